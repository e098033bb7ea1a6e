import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a worker's stdout or stderr and prints each line on the driver's, prefixed
/// `(taskName pid=N)` as Ray does. With `logToDriver` off the lines are read and dropped, so a
/// chatty worker never blocks on a full pipe.
final class LogForwarder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private let worker: WorkerHandle
    private let toStandardError: Bool
    private let enabled: Bool
    private var pending = ByteBuffer()

    private init(worker: WorkerHandle, toStandardError: Bool, enabled: Bool) {
        self.worker = worker
        self.toStandardError = toStandardError
        self.enabled = enabled
    }

    static func attach(fd: Int32, toStandardError: Bool, worker: WorkerHandle, manager: NodeManager) {
        let forwarder = LogForwarder(worker: worker, toStandardError: toStandardError, enabled: manager.config.logToDriver)
        NIOPipeBootstrap(group: manager.loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(forwarder) }
            }
            .takingOwnershipOfDescriptor(input: fd)
            .whenFailure { error in
                manager.logger.error("cannot read worker pid \(worker.pid) output: \(error)")
                close(fd)
            }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard enabled else { return }
        var buffer = unwrapInboundIn(data)
        pending.writeBuffer(&buffer)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            let line = pending.readString(length: length) ?? ""
            pending.moveReaderIndex(forwardBy: 1)
            emit(line)
        }
        pending.discardReadBytes()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if enabled, let rest = pending.readString(length: pending.readableBytes), !rest.isEmpty { emit(rest) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func emit(_ line: String) {
        let text = "(\(worker.currentName) pid=\(worker.pid)) \(line)\n"
        var bytes = Array(text.utf8)
        _ = write(toStandardError ? 2 : 1, &bytes, bytes.count)
    }
}
