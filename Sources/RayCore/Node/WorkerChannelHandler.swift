import NIOCore
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
        manager.logger.error("worker \(worker.id) pid \(worker.pid): \(error); closing its channel")
        context.close(promise: nil)
    }
}
