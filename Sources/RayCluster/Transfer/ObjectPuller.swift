import NIOCore
import NIOPosix
import RayNode
import RayObjectStore
import RayPlatform
import RayTransport
import RayWire

/// Copies shared objects from another node's `ObjectServer` into this node's store: one connection
/// per pull, the object's chunks written in place (`pwrite`) into `<id>.<pid>.tmp`, sealed by renaming
/// once every byte arrived. A pull that fails (the source died, the object is gone, this store is
/// full) leaves nothing behind and fails its future with `ObjectPullError`.
package struct ObjectPuller: ObjectPulling {
    package let directory: SharedObjectDirectory
    package let token: String
    let group: any EventLoopGroup
    /// TLS client context, when the cluster uses TLS.
    let tls: (any ChannelSecurity)?
    /// A pull that receives nothing for this long fails.
    let stallTimeout: TimeAmount

    package init(
        directory: SharedObjectDirectory, token: String, group: any EventLoopGroup, tls: (any ChannelSecurity)? = nil,
        stallTimeout: Duration = .seconds(30)
    ) {
        self.directory = directory
        self.token = token
        self.group = group
        self.tls = tls
        self.stallTimeout = TimeAmount(stallTimeout)
    }

    /// Pulls the object `id` (`size` bytes) from the object server at `host:port`. While the store
    /// is full (over capacity with nothing it could spill) the pull waits for room, up to the
    /// store's `fullWait`, then fails with a clear error rather than overfilling memory.
    package func pull(_ id: ObjectID, size: Int, host: String, port: Int) -> EventLoopFuture<Void> {
        pull(id, size: size, host: host, port: port, roomBy: nil)
    }

    private func pull(_ id: ObjectID, size: Int, host: String, port: Int, roomBy deadline: NIODeadline?) -> EventLoopFuture<Void> {
        let loop = group.next()
        if access(directory.readableFile(for: id), F_OK) == 0 { return loop.makeSucceededVoidFuture() }
        if directory.isFull {
            let deadline = deadline ?? .now() + TimeAmount(directory.fullWait)
            guard NIODeadline.now() < deadline else {
                return loop.makeFailedFuture(ObjectPullError(
                    message: "the node's object store is full (capacity \(directory.capacity) bytes) and nothing can be spilled to \(directory.spillPath); waited \(directory.fullWait) for room for \(size) bytes",
                    sourceLost: false))
            }
            return loop.scheduleTask(in: .milliseconds(20)) {}.futureResult.flatMap {
                self.pull(id, size: size, host: host, port: port, roomBy: deadline)
            }
        }
        let promise = loop.makePromise(of: Void.self)
        let handler: PullHandler
        do {
            handler = try PullHandler(id: id, size: size, directory: directory, promise: promise, stallTimeout: stallTimeout)
        } catch {
            promise.fail(ObjectPullError(message: "\(error)", sourceLost: false))
            return promise.futureResult
        }
        let hello = Hello(token: token, role: .objects, pid: getpid(), host: HeadConnection.hostName)
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { [tls] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addWireHandlers(handler, tls: tls, server: false)
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    channel.write(WireMessage.control(.hello(hello)), promise: nil)
                    channel.writeAndFlush(WireMessage.pullObject(id, size: UInt64(size)), promise: nil)
                case .failure(let error):
                    handler.fail("cannot reach the object server at \(host):\(port): \(error)", sourceLost: true)
                }
            }
        return promise.futureResult
    }
}

/// Receives one object's chunks into its temporary file; confined to the connection's loop.
private final class PullHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireMessage

    package let id: ObjectID
    let size: Int
    let directory: SharedObjectDirectory
    let promise: EventLoopPromise<Void>
    let stallTimeout: TimeAmount
    private let temporary: String
    private var fd: Int32
    private var received = 0
    private var done = false
    private var lastHeard = NIODeadline.now()
    private var watchdog: RepeatedTask?

    init(id: ObjectID, size: Int, directory: SharedObjectDirectory, promise: EventLoopPromise<Void>, stallTimeout: TimeAmount) throws {
        self.id = id
        self.size = size
        self.directory = directory
        self.promise = promise
        self.stallTimeout = stallTimeout
        temporary = directory.temporaryFile(for: id, writer: getpid()) + ".\(UInt32.random(in: 0...UInt32.max))"
        fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ClusterError("cannot create \(temporary): \(errnoText())") }
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: stallTimeout, delay: stallTimeout) { [self] _ in
            guard NIODeadline.now() - lastHeard >= stallTimeout else { return }
            fail("no data for \(stallTimeout.nanoseconds / 1_000_000_000) s", sourceLost: true)
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastHeard = .now()
        switch unwrapInboundIn(data) {
        case .objectChunk(let chunk, let offset, let bytes) where chunk == id:
            guard let start = Int(exactly: offset), start <= size - bytes.readableBytes else {
                fail("a chunk at \(offset) of \(bytes.readableBytes) bytes lies outside the object's \(size)", sourceLost: true)
                return context.close(promise: nil)
            }
            guard write(bytes, at: start) else {
                fail("cannot write \(temporary): \(errnoText())", sourceLost: false)
                return context.close(promise: nil)
            }
            received += bytes.readableBytes
            if received >= size { seal(context) }
        case .control(.objectUnavailable(_, let reason)):
            fail("the source cannot send it: \(reason)", sourceLost: true)
            context.close(promise: nil)
        default:
            fail("unexpected message from the object server", sourceLost: true)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail("the object server closed the connection after \(received) of \(size) bytes", sourceLost: true)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)", sourceLost: true)
        context.close(promise: nil)
    }

    private func write(_ bytes: ByteBuffer, at offset: Int) -> Bool {
        guard offset >= 0, offset + bytes.readableBytes <= size else {
            errno = EINVAL
            return false
        }
        return bytes.withUnsafeReadableBytes { PositionedIO.write(fd, $0, at: offset) }
    }

    private func seal(_ context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        watchdog?.cancel()
        close(fd)
        fd = -1
        if rename(temporary, directory.file(for: id)) == 0 {
            promise.succeed()
        } else {
            unlink(temporary)
            promise.fail(ObjectPullError(message: "cannot seal object \(id) in \(directory.path): \(errnoText())", sourceLost: false))
        }
        context.close(promise: nil)
    }

    /// Ends the pull with an error, removing the partial file. `sourceLost`: the source could not
    /// provide the object (rather than this store failing to take it).
    func fail(_ reason: String, sourceLost: Bool) {
        guard !done else { return }
        done = true
        watchdog?.cancel()
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(temporary)
        promise.fail(ObjectPullError(message: "pulling object \(id): \(reason)", sourceLost: sourceLost))
    }
}
