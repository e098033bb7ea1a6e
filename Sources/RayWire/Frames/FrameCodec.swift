import NIOCore

/// Frame layout: a 4-byte big-endian length of what follows, a version byte, a message type byte,
/// then the message body.
public enum Frame {
    /// The default largest frame a connection accepts: 1 GiB.
    public static let defaultMaxSize = 1 << 30
    /// The largest frame a server accepts before the peer has authenticated: a hello fits easily,
    /// so an unauthenticated peer cannot make the server buffer more than this.
    public static let unauthenticatedMaxSize = 16 << 10
    static let headerSize = 4
}

/// The largest frame a connection accepts now: servers start at `Frame.unauthenticatedMaxSize`
/// and raise it once the peer's hello carried the token. Shared by the connection's decoder and
/// its handler, and touched only on the connection's event loop.
public final class FrameSizeLimit: @unchecked Sendable {
    public private(set) var bytes: Int

    public init(_ bytes: Int) { self.bytes = bytes }

    /// A server's limit before authentication.
    public static func unauthenticated() -> FrameSizeLimit { FrameSizeLimit(Frame.unauthenticatedMaxSize) }

    /// The peer authenticated: accept frames up to `bytes`.
    public func authenticated(upTo bytes: Int = Frame.defaultMaxSize) { self.bytes = bytes }
}

/// Splits a byte stream into messages. Oversized or garbage frames throw, which closes the
/// connection; they never crash the process.
public struct WireMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = WireMessage
    let limit: FrameSizeLimit

    public init(maxFrameSize: Int = Frame.defaultMaxSize) { self.limit = FrameSizeLimit(maxFrameSize) }

    /// A decoder whose limit can change as the connection authenticates.
    public init(limit: FrameSizeLimit) { self.limit = limit }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        let size = Int(length)
        guard size >= 2 else { throw WireError.malformed("frame of \(size) bytes has no header") }
        guard size <= limit.bytes else {
            if let protocolName = Self.foreignProtocol(buffer) { throw WireError.notSwiftRay(protocolName) }
            throw WireError.frameTooLarge(size, limit: limit.bytes)
        }
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

    /// The protocol a peer speaks when a frame's length is over the limit and its bytes read as
    /// HTTP, SSH or a TLS record: a better reason than the length.
    static func foreignProtocol(_ buffer: ByteBuffer) -> String? {
        guard let head = buffer.getBytes(at: buffer.readerIndex, length: 4) else { return nil }
        if head[0] == 0x16, head[1] == 0x03 { return "TLS" }
        let text = String(decoding: head, as: UTF8.self)
        let methods = ["HTTP", "GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN", "SSH-"]
        guard methods.contains(text) else { return nil }
        return text == "SSH-" ? "SSH" : "HTTP"
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
