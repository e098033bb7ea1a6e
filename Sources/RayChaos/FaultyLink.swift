import NIOCore
import NIOPosix
import Synchronization

/// A TCP relay standing for the link between two processes: it delays what it carries and can cut
/// every connection at once (a dropped link) or hold them all silent (a partition). Link faults in
/// user space, for machines whose kernel has no netem (this one's has not).
///
/// ```swift
/// let link = try await FaultyLink(to: "127.0.0.1", port: headPort, delay: .milliseconds(20))
/// // start a node with --address 127.0.0.1:\(link.port) ...
/// link.cutAll()         // the node loses its head; it rejoins through the link
/// ```
public final class FaultyLink: Sendable {
    /// The port clients connect to (loopback).
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let server: any Channel
    private let state: LinkState

    /// Relays connections on a free loopback port to `host:port`, each byte held `delay`.
    public init(to host: String, port target: Int, delay: Duration = .zero) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = LinkState(delay: delay)
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { inbound in
                    ClientBootstrap(group: inbound.eventLoop).connect(host: host, port: target).flatMap { outbound in
                        Relay.pair(inbound, outbound, state: state)
                    }.flatMapError { _ in inbound.close() }
                }
                .bind(host: "127.0.0.1", port: 0).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        port = server.localAddress?.port ?? 0
        self.group = group
        self.state = state
    }

    /// What each byte is held from now on.
    public func setDelay(_ delay: Duration) { state.delay = delay }

    /// Closes every relayed connection (both sides see the peer go); returns how many.
    @discardableResult
    public func cutAll() -> Int { state.cutAll() }

    /// While true, relayed bytes are dropped and new connections are closed at once: a partition.
    public func setPartitioned(_ partitioned: Bool) {
        state.partitioned = partitioned
        if partitioned { _ = state.cutAll() }
    }

    /// Connections relayed now.
    public var connections: Int { state.count }

    /// Stops relaying and closes everything.
    public func close() async {
        _ = state.cutAll()
        try? await server.close()
        try? await group.shutdownGracefully()
    }
}

/// The link's settings and live connections, shared with its relays.
final class LinkState: Sendable {
    private let inner: Mutex<(delay: Duration, partitioned: Bool, channels: [ObjectIdentifier: any Channel])>

    init(delay: Duration) { inner = Mutex((delay, false, [:])) }

    var delay: Duration {
        get { inner.withLock { $0.delay } }
        set { inner.withLock { $0.delay = newValue } }
    }

    var partitioned: Bool {
        get { inner.withLock { $0.partitioned } }
        set { inner.withLock { $0.partitioned = newValue } }
    }

    /// Relayed connections: each is two channels (client side and target side).
    var count: Int { inner.withLock { $0.channels.count } / 2 }

    func add(_ channel: any Channel) { inner.withLock { $0.channels[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { _ = inner.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) } }

    func cutAll() -> Int {
        let channels = inner.withLock { state in
            defer { state.channels = [:] }
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
        return channels.count / 2
    }
}

/// One direction of a relayed connection: what it reads goes to its partner after the delay
/// (writes keep their order: the delay is the same for all and the loop is one thread).
final class Relay: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let partner: any Channel
    private let state: LinkState

    init(partner: any Channel, state: LinkState) {
        self.partner = partner
        self.state = state
    }

    static func pair(_ inbound: any Channel, _ outbound: any Channel, state: LinkState) -> EventLoopFuture<Void> {
        guard !state.partitioned else {
            outbound.close(promise: nil)
            return inbound.close()
        }
        state.add(inbound)
        state.add(outbound)
        // The client's channel registers (and starts reading) once this completes.
        return inbound.pipeline.addHandler(Relay(partner: outbound, state: state)).flatMap {
            outbound.pipeline.addHandler(Relay(partner: inbound, state: state))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !state.partitioned else { return }
        let bytes = unwrapInboundIn(data)
        let partner = partner
        let delay = state.delay
        if delay == .zero {
            partner.writeAndFlush(bytes, promise: nil)
        } else {
            context.eventLoop.scheduleTask(in: TimeAmount(delay)) { partner.writeAndFlush(bytes, promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.remove(context.channel)
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
