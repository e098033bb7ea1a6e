import NIOCore
import NIOPosix
import RayObjectStore
import RayPlatform
import RayTransport
import RayWire

/// Serves a node's shared-memory store to other nodes: a puller connects, presents the cluster
/// token (`hello` with role `.objects`), asks for objects with `pullObject`, and receives each as
/// `objectChunk`s in order. Connections without the token, or with garbage, are logged and closed.
/// Runs on its own event loop so transfers never stall the scheduler.
package final class ObjectServer: @unchecked Sendable {
    /// Bytes per chunk: large enough that framing costs nothing, small enough to interleave pulls.
    static let chunkSize = 4 << 20
    /// Chunks written ahead of the socket per pull.
    static let window = 4
    /// The largest object a pull may ask for (1 TiB) and the most pulls a connection may queue.
    static let maxObjectSize = 1 << 40
    static let maxQueuedPulls = 4096

    let directory: SharedObjectDirectory
    let token: String
    /// TLS server context, when the cluster uses TLS.
    let tls: (any ChannelSecurity)?
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    /// Pullers that have not presented the token yet (capped).
    let unauthenticated = ConnectionLimit()
    private var channel: (any Channel)?

    package init(directory: SharedObjectDirectory, token: String, tls: (any ChannelSecurity)? = nil) {
        self.directory = directory
        self.token = token
        self.tls = tls
    }

    /// The port it listens on, once started.
    package var port: Int? { channel?.localAddress?.port }

    /// Listens on `host:port` (0: any free port); returns the port.
    package func start(host: String, port: Int = 0) async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    // Pullers only ever send small requests: the limit stays hello-sized.
                    try channel.pipeline.syncOperations.addWireHandlers(
                        ObjectServerHandler(server: self), tls: tls, server: true, limit: .unauthenticated())
                }
            }
            .bind(host: host, port: port).get()
        self.channel = channel
        return channel.localAddress?.port ?? port
    }

    package func shutdown() async {
        try? await channel?.close()
        try? await group.shutdownGracefully()
    }
}

/// One puller's connection: the token first, then any number of pulls, served one after another.
final class ObjectServerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireMessage

    private let server: ObjectServer
    private var authenticated = false
    private var queue: [(id: ObjectID, size: Int)] = []
    private var sending = false
    private var remote = "?"
    /// Whether this connection counts among the server's unauthenticated ones.
    private var counted = false

    init(server: ObjectServer) { self.server = server }

    func channelActive(context: ChannelHandlerContext) {
        remote = context.channel.remoteAddress?.displayText ?? "?"
        let channel = context.channel
        counted = server.unauthenticated.admit()
        guard counted else {
            context.fireChannelActive()
            return reject(channel, "\(server.unauthenticated.limit) connections are already waiting to authenticate")
        }
        context.eventLoop.scheduleTask(in: TimeAmount(ConnectionLimit.idleTimeout)) { [self] in
            if !authenticated, channel.isActive { reject(channel, "no hello within \(ConnectionLimit.idleTimeout)") }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard authenticated else {
            guard case .control(.hello(let hello)) = message, case .objects = hello.role else {
                return reject(context.channel, "first message was not an object puller's hello")
            }
            guard ClusterToken.matches(hello.token, server.token) else { return reject(context.channel, "wrong cluster token") }
            authenticated = true
            return uncount()
        }
        guard case .pullObject(let id, let size) = message else { return reject(context.channel, "unexpected message") }
        // Sizes come from the puller: one past any file, or pulls heaped up unread, end the connection.
        guard let bytes = Int(exactly: size), bytes <= ObjectServer.maxObjectSize else {
            return reject(context.channel, "pull of object \(id) with an impossible size \(size)")
        }
        guard queue.count < ObjectServer.maxQueuedPulls else { return reject(context.channel, "over \(ObjectServer.maxQueuedPulls) pulls queued") }
        queue.append((id, bytes))
        if !sending { sendNext(context.channel) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reject(context.channel, "\(error)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        uncount()
        context.fireChannelInactive()
    }

    private func uncount() {
        guard counted else { return }
        counted = false
        server.unauthenticated.leave()
    }

    private func reject(_ channel: any Channel, _ reason: String) {
        RayLog.untrusted.warning("object server: closing the connection from \(remote): \(reason)")
        channel.close(promise: nil)
    }

    private func sendNext(_ channel: any Channel) {
        guard !queue.isEmpty else {
            sending = false
            return
        }
        sending = true
        let (id, size) = queue.removeFirst()
        let path = server.directory.readableFile(for: id)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = "cannot open \(path): \(errnoText())"
            RayLog.untrusted.warning("object server: \(reason)")
            channel.writeAndFlush(WireMessage.control(.objectUnavailable(id: id, reason: reason)), promise: nil)
            return sendNext(channel)
        }
        ObjectSend(id: id, size: size, fd: fd, channel: channel) { [self] in sendNext(channel) }.start()
    }
}

/// Streams one object's file as chunks, keeping `ObjectServer.window` writes in flight.
private final class ObjectSend: @unchecked Sendable {
    package let id: ObjectID
    let size: Int
    let fd: Int32
    let channel: any Channel
    let done: () -> Void
    private var offset = 0
    private var inFlight = 0
    private var finished = false

    init(id: ObjectID, size: Int, fd: Int32, channel: any Channel, done: @escaping () -> Void) {
        self.id = id
        self.size = size
        self.fd = fd
        self.channel = channel
        self.done = done
    }

    func start() {
        if size == 0 {
            channel.writeAndFlush(WireMessage.objectChunk(id, offset: 0, data: ByteBuffer()), promise: nil)
            return finish()
        }
        fill()
    }

    private func fill() {
        while !finished, inFlight < ObjectServer.window, offset < size {
            let count = min(ObjectServer.chunkSize, size - offset)
            guard let chunk = read(count) else {
                RayLog.logger.warning("object server: cannot read object \(id) at \(offset): \(errnoText())")
                channel.close(promise: nil)
                return finish()
            }
            let chunkOffset = offset
            offset += count
            inFlight += 1
            channel.writeAndFlush(WireMessage.objectChunk(id, offset: UInt64(chunkOffset), data: chunk)).whenComplete { [self] result in
                inFlight -= 1
                if case .failure = result { return finish() }
                if offset >= size, inFlight == 0 { return finish() }
                fill()
            }
        }
    }

    private func read(_ count: Int) -> ByteBuffer? {
        var buffer = channel.allocator.buffer(capacity: count)
        let start = offset
        let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
            PositionedIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: pointer[..<count]), at: start)
        }
        return got == count ? buffer : nil
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        close(fd)
        done()
    }
}
