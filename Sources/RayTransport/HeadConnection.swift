import NIOCore
import NIOPosix
import RayWire
import RayPlatform

/// A connection to a cluster's head, from a driver, a node daemon, a remote worker or the CLI:
/// connect over TCP, present the token (`hello`), exchange the handshake's replies, then hand every
/// message to a router on the connection's event loop.
package final class HeadConnection: @unchecked Sendable {
    package let channel: any Channel
    private let handler: HeadConnectionHandler

    private init(channel: any Channel, handler: HeadConnectionHandler) {
        self.channel = channel
        self.handler = handler
    }

    /// Connects (over TLS with `tls`, a client context) and sends `hello`.
    /// - Throws: `ClusterError` when the head cannot be reached.
    package static func connect(
        host: String, port: Int, hello: Hello, group: any EventLoopGroup, tls: (any ChannelSecurity)? = nil
    ) async throws -> HeadConnection {
        try await connecting(host: host, port: port, hello: hello, group: group, tls: tls).get()
    }

    /// `connect` as a future, for callers that cannot await (a worker starting before `main`).
    package static func connecting(
        host: String, port: Int, hello: Hello, group: any EventLoopGroup, tls: (any ChannelSecurity)? = nil
    ) -> EventLoopFuture<HeadConnection> {
        let handler = HeadConnectionHandler(peer: "\(host):\(port)")
        return ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(TimeAmount(handshakeTimeout))
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

    /// How long connecting, and each handshake step, waits for the head by default: 15 s, or
    /// `SWIFTRAY_CONNECT_TIMEOUT` seconds.
    package static var handshakeTimeout: Duration {
        guard let text = getenvString("SWIFTRAY_CONNECT_TIMEOUT"), let seconds = Double(text), seconds > 0 else { return .seconds(15) }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The next message, during the handshake (before `route`).
    /// - Throws: `ClusterError` if the head closes the connection (a refused token, for instance),
    ///   or does not answer within `timeout` (the connection is then closed).
    package func next(timeout: Duration = HeadConnection.handshakeTimeout) async throws -> WireMessage {
        let handler = self.handler
        return try await withCheckedThrowingContinuation { continuation in
            channel.eventLoop.execute { handler.take(continuation, timeout: timeout) }
        }
    }

    /// The next control message, skipping nothing: anything else is a protocol error.
    package func nextControl(timeout: Duration = HeadConnection.handshakeTimeout) async throws -> ControlMessage {
        let message = try await next(timeout: timeout)
        guard case .control(let control) = message else { throw ClusterError("unexpected message from the head during the handshake") }
        return control
    }

    /// From now on, messages go to `onMessage` and the end of the connection to `onClose`, on the
    /// connection's event loop.
    package func route(_ onMessage: @escaping @Sendable (WireMessage) -> Void, onClose: @escaping @Sendable () -> Void) {
        let handler = self.handler
        channel.eventLoop.execute { handler.route(onMessage, onClose: onClose) }
    }

    package func send(_ message: WireMessage) {
        channel.writeAndFlush(message, promise: nil)
    }

    package func close() {
        channel.close(promise: nil)
    }

    /// This machine's name, for `hello`.
    package static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Queues messages until the connection is routed; confined to the channel's loop.
final class HeadConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireMessage

    private let peer: String
    private var queued: [WireMessage] = []
    private var waiter: CheckedContinuation<WireMessage, any Error>?
    /// Counts waits, so a timer only fails the wait it was set for.
    private var waits = 0
    private var onMessage: ((WireMessage) -> Void)?
    private var onClose: (() -> Void)?
    private var closed = false
    /// Why the connection failed, if it did (a frame from something that is not swift-ray, say).
    private var failure: (any Error)?
    private var channel: (any Channel)?

    init(peer: String) { self.peer = peer }

    private var closedError: ClusterError {
        if let failure { return ClusterError("the connection to \(peer) failed: \(failure)") }
        return ClusterError("the cluster at \(peer) closed the connection (wrong token, TLS expected on one side only, or it is shutting down)")
    }

    func handlerAdded(context: ChannelHandlerContext) { channel = context.channel }

    func take(_ continuation: CheckedContinuation<WireMessage, any Error>, timeout: Duration) {
        if !queued.isEmpty { return continuation.resume(returning: queued.removeFirst()) }
        if closed { return continuation.resume(throwing: closedError) }
        waiter = continuation
        waits += 1
        let wait = waits
        channel?.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            guard wait == waits, let waiter else { return }
            self.waiter = nil
            waiter.resume(throwing: ClusterError(
                "no answer from \(peer) within \(timeout) (is it a swift-ray head? is it overloaded or out of file descriptors?)"))
            channel?.close(promise: nil)
        }
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
            waiter.resume(throwing: closedError)
        }
        onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure == nil { failure = error }
        // During the handshake the waiting caller reports it; after, the log is the only trace.
        if onMessage != nil { RayLog.logger.error("connection to the cluster at \(peer): \(error); closing it") }
        context.close(promise: nil)
    }
}
