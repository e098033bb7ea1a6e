import NIOCore

/// Frame layout: a 4-byte big-endian length of what follows, a version byte, a message type byte,
/// then the message body.
public enum Frame {
    /// The default largest frame a connection accepts: 1 GiB.
    public static let defaultMaxSize = 1 << 30
    static let headerSize = 4
}

/// Splits a byte stream into messages. Oversized or garbage frames throw, which closes the
/// connection; they never crash the process.
public struct WireMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = WireMessage
    let maxFrameSize: Int

    public init(maxFrameSize: Int = Frame.defaultMaxSize) { self.maxFrameSize = maxFrameSize }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        let size = Int(length)
        guard size >= 2 else { throw WireError.malformed("frame of \(size) bytes has no header") }
        guard size <= maxFrameSize else { throw WireError.frameTooLarge(size, limit: maxFrameSize) }
        guard buffer.readableBytes >= Frame.headerSize + size else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: Frame.headerSize)
        var body = buffer.readSlice(length: size)!
        let version = body.readInteger(as: UInt8.self)!
        guard version == WireMessage.version else { throw WireError.unsupportedVersion(version) }
        let type = body.readInteger(as: UInt8.self)!
        let message = try WireMessage.decodeBody(type: type, from: &body)
        guard body.readableBytes == 0 else {
            throw WireError.malformed("\(body.readableBytes) trailing bytes in message type \(type)")
        }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }
}

/// Writes messages as frames.
public struct WireMessageEncoder: MessageToByteEncoder {
    public typealias OutboundIn = WireMessage

    public init() {}

    public func encode(data: WireMessage, out: inout ByteBuffer) throws {
        encodeFrame(data, into: &out)
    }

    /// Appends `message` as one frame.
    public func encodeFrame(_ data: WireMessage, into out: inout ByteBuffer) {
        let start = out.writerIndex
        out.writeInteger(UInt32(0))
        out.writeInteger(WireMessage.version)
        out.writeInteger(data.typeCode)
        data.encodeBody(into: &out)
        out.setInteger(UInt32(out.writerIndex - start - Frame.headerSize), at: start)
    }
}

extension WireMessage {
    /// The message as one frame, for writers that bypass the channel pipeline (tests, raw sockets).
    public func framed() -> ByteBuffer {
        var buffer = ByteBuffer()
        try! WireMessageEncoder().encode(data: self, out: &buffer)
        return buffer
    }
}
