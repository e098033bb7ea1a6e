import NIOCore
import NIOPosix
import NIOSSL
import RayWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A connection to a cluster's head, from a driver, a node daemon, a remote worker or the CLI:
/// connect over TCP, present the token (`hello`), exchange the handshake's replies, then hand every
/// message to a router on the connection's event loop.
public final class HeadConnection: @unchecked Sendable {
    public let channel: any Channel
    private let handler: HeadConnectionHandler

    private init(channel: any Channel, handler: HeadConnectionHandler) {
        self.channel = channel
        self.handler = handler
    }

    /// Connects (over TLS with `tls`, a client context) and sends `hello`.
    /// - Throws: `ClusterError` when the head cannot be reached.
    public static func connect(
        host: String, port: Int, hello: Hello, group: any EventLoopGroup, tls: NIOSSLContext? = nil
    ) async throws -> HeadConnection {
        try await connecting(host: host, port: port, hello: hello, group: group, tls: tls).get()
    }

    /// `connect` as a future, for callers that cannot await (a worker starting before `main`).
    public static func connecting(
        host: String, port: Int, hello: Hello, group: any EventLoopGroup, tls: NIOSSLContext? = nil
    ) -> EventLoopFuture<HeadConnection> {
        let handler = HeadConnectionHandler()
        return ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addWireHandlers(handler, tls: tls, server: false)
                    }
                }
                .connect(host: host, port: port)
                .flatMapErrorThrowing { error in throw ClusterError("cannot reach the cluster at \(host):\(port): \(error)") }
                .map { channel in
                    channel.writeAndFlush(WireMessage.control(.hello(hello)), promise: nil)
                    return HeadConnection(channel: channel, handler: handler)
                }
    }

    /// The next message, during the handshake (before `route`).
    /// - Throws: `ClusterError` if the head closes the connection (a refused token, for instance).
    public func next() async throws -> WireMessage {
        let handler = self.handler
        return try await withCheckedThrowingContinuation { continuation in
            channel.eventLoop.execute { handler.take(continuation) }
        }
    }

    /// The next control message, skipping nothing: anything else is a protocol error.
    public func nextControl() async throws -> ControlMessage {
        let message = try await next()
        guard case .control(let control) = message else { throw ClusterError("unexpected message from the head during the handshake") }
        return control
    }

    /// From now on, messages go to `onMessage` and the end of the connection to `onClose`, on the
    /// connection's event loop.
    public func route(_ onMessage: @escaping @Sendable (WireMessage) -> Void, onClose: @escaping @Sendable () -> Void) {
        let handler = self.handler
        channel.eventLoop.execute { handler.route(onMessage, onClose: onClose) }
    }

    public func send(_ message: WireMessage) {
        channel.writeAndFlush(message, promise: nil)
    }

    public func close() {
        channel.close(promise: nil)
    }

    /// This machine's name, for `hello`.
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Queues messages until the connection is routed; confined to the channel's loop.
final class HeadConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireMessage

    private var queued: [WireMessage] = []
    private var waiter: CheckedContinuation<WireMessage, any Error>?
    private var onMessage: ((WireMessage) -> Void)?
    private var onClose: (() -> Void)?
    private var closed = false
    static let closedMessage = "the cluster closed the connection (wrong token, TLS expected on one side only, or it is shutting down)"

    func take(_ continuation: CheckedContinuation<WireMessage, any Error>) {
        if !queued.isEmpty { return continuation.resume(returning: queued.removeFirst()) }
        if closed { return continuation.resume(throwing: ClusterError(Self.closedMessage)) }
        waiter = continuation
    }

    func route(_ onMessage: @escaping (WireMessage) -> Void, onClose: @escaping () -> Void) {
        self.onMessage = onMessage
        self.onClose = onClose
        let pending = queued
        queued = []
        for message in pending { onMessage(message) }
        if closed { onClose() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        if let onMessage { return onMessage(message) }
        if let waiter {
            self.waiter = nil
            return waiter.resume(returning: message)
        }
        queued.append(message)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        if let waiter {
            self.waiter = nil
            waiter.resume(throwing: ClusterError(Self.closedMessage))
        }
        onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        RayLog.logger.error("connection to the cluster: \(error); closing it")
        context.close(promise: nil)
    }
}
