import NIOCore

/// Encodes outbound messages as frames into one buffer and hands it on at `flush`: a burst of small
/// messages (actor calls, results) leaves in one socket write, with one allocation instead of one
/// per message. Replaces NIO's `MessageToByteHandler`, which passes each frame on separately.
public final class CoalescingFrameWriter: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = WireMessage
    public typealias OutboundOut = ByteBuffer

    /// Frames encoded since the last flush.
    private var pending: ByteBuffer?
    /// Completed when `pending` is written.
    private var promise: EventLoopPromise<Void>?
    /// Set while the handler is in a pipeline, for `enqueue`.
    private var context: ChannelHandlerContext?
    /// A burst larger than this is passed on before the flush, so one buffer does not grow without
    /// bound while a loop tick writes a lot.
    static let passOnSize = 1 << 20

    public init() {}

    public func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        append(unwrapOutboundIn(data), context: context)
        if let promise {
            if let existing = self.promise { existing.futureResult.cascade(to: promise) } else { self.promise = promise }
        }
    }

    /// Writes `message` like `channel.write` does, without the pipeline's per-message dispatch (a
    /// node manager forwards a hundred thousand calls a second). Call it on the channel's event loop,
    /// for a writer with no outbound handler after it, in order with the channel's other writes.
    /// Returns false once the handler has left its pipeline (the channel closed): nothing is written.
    public func enqueue(_ message: WireMessage) -> Bool {
        guard let context else { return false }
        context.eventLoop.assertInEventLoop()
        append(message, context: context)
        return true
    }

    private func append(_ message: WireMessage, context: ChannelHandlerContext) {
        var buffer = pending ?? context.channel.allocator.buffer(capacity: 4096)
        pending = nil
        WireMessageEncoder().encodeFrame(message, into: &buffer)
        pending = buffer
        if buffer.readableBytes >= Self.passOnSize { passOn(context) }
    }

    public func flush(context: ChannelHandlerContext) {
        passOn(context)
        context.flush()
    }

    /// Writes what is pending as one buffer (without flushing).
    private func passOn(_ context: ChannelHandlerContext) {
        guard let buffer = pending else { return }
        pending = nil
        let promise = self.promise
        self.promise = nil
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        pending = nil
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
    }
}
