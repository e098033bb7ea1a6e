import NIOCore
import NIOSSL
import RayWire

extension ChannelPipeline.SynchronousOperations {
    /// Sets up a connection that speaks `WireMessage` frames to `handler`, over TLS when `tls` is set
    /// (the server's side when `server`, else a client's).
    func addWireHandlers(_ handler: some ChannelHandler, tls: NIOSSLContext? = nil, server: Bool = false) throws {
        try addTLS(tls, server: server)
        try addHandler(ByteToMessageHandler(WireMessageDecoder()))
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
