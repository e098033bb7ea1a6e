import NIOCore
import RayPlatform
import RayWire

/// Feeds one worker's messages to the node manager; a closed or misbehaving channel counts as
/// the worker's death.
package final class WorkerChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    package typealias InboundIn = WireMessage

    private let manager: NodeManager
    private let worker: WorkerHandle

    package init(manager: NodeManager, worker: WorkerHandle) {
        self.manager = manager
        self.worker = worker
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        manager.handle(unwrapInboundIn(data), from: worker)
    }

    package func channelInactive(context: ChannelHandlerContext) {
        manager.channelClosed(worker)
        context.fireChannelInactive()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let io = error as? IOError, [ECONNRESET, EPIPE].contains(io.errnoCode) {
            // The worker exited with messages still unread: an ordinary end, seen as its death.
            manager.logger.debug("worker \(worker.id) pid \(worker.pid) closed its end: \(error)")
        } else {
            manager.logger.error("worker \(worker.id) pid \(worker.pid): \(error); closing its channel")
        }
        context.close(promise: nil)
    }
}
