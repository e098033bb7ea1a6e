import NIOCore
import NIOSSL
import RayWire

extension ChannelPipeline.SynchronousOperations {
    /// Sets up a connection that speaks `WireMessage` frames to `handler`, over TLS when `tls` is set
    /// (the server's side when `server`, else a client's). A server's `limit` starts small and is
    /// raised by `handler` once the peer has authenticated.
    func addWireHandlers(
        _ handler: some ChannelHandler, tls: NIOSSLContext? = nil, server: Bool = false, limit: FrameSizeLimit? = nil
    ) throws {
        try addTLS(tls, server: server)
        try addHandler(ByteToMessageHandler(WireMessageDecoder(limit: limit ?? FrameSizeLimit(Frame.defaultMaxSize))))
        try addHandler(CoalescingFrameWriter())
        try addHandler(handler)
    }

    /// Adds TLS as the first handler: a server's side when `server`, else a client's.
    func addTLS(_ context: NIOSSLContext?, server: Bool) throws {
        guard let context else { return }
        if server {
            try addHandler(NIOSSLServerHandler(context: context))
        } else {
            try addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
        }
    }
}

extension Channel {
    /// Writes `message` (without flushing) straight into the connection's `CoalescingFrameWriter`,
    /// found once and kept in `writer`; through the pipeline if there is none. On the channel's loop.
    func writeFrame(_ message: WireMessage, writer: inout CoalescingFrameWriter?) {
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
