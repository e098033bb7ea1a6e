import NIOCore
import NIOPosix
import RayPlatform

/// Reads a process's stdout or stderr pipe line by line and hands each line on: the node manager
/// prints workers' lines on the driver's output, prefixed `(taskName pid=N)` as Ray does, and a node
/// daemon sends them to the head. Lines are always read, so a chatty worker never blocks on a full
/// pipe.
package final class LineForwarder: ChannelInboundHandler, @unchecked Sendable {
    package typealias InboundIn = ByteBuffer

    private let onLine: (String) -> Void
    private var pending = ByteBuffer()

    private init(onLine: @escaping (String) -> Void) {
        self.onLine = onLine
    }

    /// Reads `fd` (taking ownership) on `loop`, calling `onLine` there for each line.
    package static func attach(fd: Int32, on loop: any EventLoop, onLine: @escaping (String) -> Void) {
        let forwarder = LineForwarder(onLine: onLine)
        NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(forwarder) }
            }
            .takingOwnershipOfDescriptor(input: fd)
            .whenFailure { error in
                RayLog.logger.error("cannot read a worker's output: \(error)")
                close(fd)
            }
    }

    /// Forwards a local worker's output to the node manager.
    static func attach(fd: Int32, toStandardError: Bool, worker: WorkerHandle, manager: NodeManager) {
        attach(fd: fd, on: manager.loop) { line in
            manager.emitOutput(line, isError: toStandardError, from: worker)
        }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending.writeBuffer(&buffer)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            let line = pending.readString(length: length) ?? ""
            pending.moveReaderIndex(forwardBy: 1)
            onLine(line)
        }
        pending.discardReadBytes()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        if let rest = pending.readString(length: pending.readableBytes), !rest.isEmpty { onLine(rest) }
        context.fireChannelInactive()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
