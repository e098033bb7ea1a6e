import NIOCore
import RayWire

/// Encryption for a connection: adds its handler first in the pipeline. RayTransport knows no
/// cipher; RayTLS provides TLS (`TLSSecurity`), so only processes that use it link it.
package protocol ChannelSecurity: Sendable {
    /// Adds the handler that secures the connection: a server's side when `server`, else a client's.
    func addHandler(to pipeline: ChannelPipeline.SynchronousOperations, server: Bool) throws
}

extension ChannelPipeline.SynchronousOperations {
    /// Sets up a connection that speaks `WireMessage` frames to `handler`, over TLS when `tls` is set
    /// (the server's side when `server`, else a client's). A server's `limit` starts small and is
    /// raised by `handler` once the peer has authenticated.
    package func addWireHandlers(
        _ handler: some ChannelHandler, tls: (any ChannelSecurity)? = nil, server: Bool = false, limit: FrameSizeLimit? = nil
    ) throws {
        try tls?.addHandler(to: self, server: server)
        try addHandler(ByteToMessageHandler(WireMessageDecoder(limit: limit ?? FrameSizeLimit(Frame.defaultMaxSize))))
        try addHandler(CoalescingFrameWriter())
        try addHandler(handler)
    }

}

extension Channel {
    /// Writes `message` (without flushing) straight into the connection's `CoalescingFrameWriter`,
    /// found once and kept in `writer`; through the pipeline if there is none. On the channel's loop.
    package func writeFrame(_ message: WireMessage, writer: inout CoalescingFrameWriter?) {
        if writer == nil { writer = try? pipeline.syncOperations.handler(type: CoalescingFrameWriter.self) }
        if writer?.enqueue(message) != true { write(message, promise: nil) }
    }
}

extension SocketAddress {
    /// `HOST:PORT` (`[HOST]:PORT` for IPv6), for messages; NIO's description repeats the host.
    package var displayText: String {
        guard let ip = ipAddress, let port else { return pathname ?? description }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
