import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RayWire

/// Feeds one worker's messages to the node manager; a closed or misbehaving channel counts as
/// the worker's death.
final class WorkerChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireMessage

    private let manager: NodeManager
    private let worker: WorkerHandle

    init(manager: NodeManager, worker: WorkerHandle) {
        self.manager = manager
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        manager.handle(unwrapInboundIn(data), from: worker)
    }

    func channelInactive(context: ChannelHandlerContext) {
        manager.channelClosed(worker)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let io = error as? IOError, [ECONNRESET, EPIPE].contains(io.errnoCode) {
            // The worker exited with messages still unread: an ordinary end, seen as its death.
            manager.logger.debug("worker \(worker.id) pid \(worker.pid) closed its end: \(error)")
        } else {
            manager.logger.error("worker \(worker.id) pid \(worker.pid): \(error); closing its channel")
        }
        context.close(promise: nil)
    }
}
