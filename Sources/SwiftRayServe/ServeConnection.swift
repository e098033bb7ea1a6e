import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import SwiftRay

/// The proxy's connections on Hummingbird's server: Hummingbird's HTTP/1 pipeline (NIO's parser
/// with pipelining assistance and its 400 on malformed input, the idle timeout and graceful
/// quiescing of `HTTPConnectionStateHandler`), ending in `ServeConnectionHandler` instead of an
/// async channel. A request is read on its event loop and only its replica call runs in a Swift
/// task: the async channel bridge and the per-connection task cost more than half of the
/// proxy's time under load.
struct ServeChildChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
    }

    let responder: ServeResponder
    let idleTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
            try pipeline.addHandler(ServeConnectionHandler(responder: responder))
            return Value(channel: channel)
        }
    }

    /// The connection is served by its handlers; this only outlives it (the server's graceful
    /// shutdown quiesces it through the pipeline).
    func handle(value: Value, logger: Logger) async {
        try? await value.channel.closeFuture.get()
    }
}

/// One connection's requests: each is gathered (its body up to the limit), answered by the
/// responder in a task, and its answer written back on the connection's loop. NIO's pipelining
/// assistance holds the next request until the answer's end is written, so requests on one
/// connection are answered in turn.
final class ServeConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private let responder: ServeResponder
    /// The request being read (nil between requests and after one was refused from its head).
    private var head: HTTPRequest?
    private var body = ByteBuffer()
    private var tooLarge = false
    private var started = ContinuousClock.now

    init(responder: ServeResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            started = .now
            body.clear()
            tooLarge = false
            guard !responder.declaresTooMuch(head) else { return refuseWhole(head, context) }
            self.head = head
        case .body(var chunk):
            guard head != nil, !tooLarge else { return }
            if body.readableBytes + chunk.readableBytes > responder.maxBodyBytes {
                tooLarge = true
                body.clear()
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            dispatch(head, body: tooLarge ? nil : Array(body.readableBytesView), context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// A body declared over the limit is refused at once, not once that many bytes came; the
    /// connection closes after the answer, so the body is never read.
    private func refuseWhole(_ head: HTTPRequest, _ context: ChannelHandlerContext) {
        let refusal = ServeResponder.error(.contentTooLarge, "the body is over \(responder.maxBodyBytes) bytes")
        let application = responder.routes.match(URI(head.path ?? "/").path)?.application ?? "-"
        write(.whole(refusal), for: head, application: application, close: true, context)
    }

    private func dispatch(_ head: HTTPRequest, body: [UInt8]?, _ context: ChannelHandlerContext) {
        let close = head.headerFields[.connection]?.lowercased() == "close"
        if let unrouted = responder.unrouted(head) {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.execute {
                let (handler, context) = bound.value
                handler.write(.whole(unrouted), for: head, application: "-", close: close, context)
            }
            return
        }
        let responder = responder
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        Task {
            let (answer, application) = await responder.answer(head, body: body)
            loop.execute {
                let (handler, context) = bound.value
                handler.write(answer, for: head, application: application, close: close, context)
            }
        }
    }

    private func write(_ answer: ProxyAnswer, for head: HTTPRequest, application: String, close: Bool, _ context: ChannelHandlerContext) {
        let status: HTTPResponse.Status
        switch answer {
        case .whole(var response):
            status = response.status
            response.fields[.server] = "swift-ray-serve"
            response.fields[.contentLength] = String(response.body.count)
            context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: response.fields))), promise: nil)
            if !response.body.isEmpty { context.write(wrapOutboundOut(.body(ByteBuffer(bytes: response.body))), promise: nil) }
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if close { written.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
        case .stream(let contentType, let first, let lease):
            status = .ok
            context.write(wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: [.contentType: contentType, .server: "swift-ray-serve"]))), promise: nil)
            if let first { context.write(wrapOutboundOut(.body(ByteBuffer(bytes: first))), promise: nil) }
            context.flush()
            Self.pump(lease, to: context.channel, close: close)
        }
        responder.accessLog?.log(
            application: application, method: head.method.rawValue, path: URI(head.path ?? "/").path, status: status.code,
            latency: .now - started)
    }

    /// Writes a stream's chunks as the replica yields them, each once the last was written. A
    /// client that goes away (a failed write) ends it, which drops the generator and stops the
    /// replica's stream; a failed stream closes the connection mid-body.
    private static func pump(_ lease: StreamLease, to channel: any Channel, close: Bool) {
        Task { await pumping(lease, to: channel, close: close) }
    }

    private static func pumping(_ lease: StreamLease, to channel: any Channel, close: Bool) async {
        do {
            while let ref = try await lease.generator.next() {
                try await channel.writeAndFlush(HTTPResponsePart.body(ByteBuffer(bytes: try await ray.get(ref).bytes)))
            }
            try await channel.writeAndFlush(HTTPResponsePart.end(nil))
            lease.end(failed: false)
            if close { try? await channel.close() }
        } catch {
            lease.end(failed: true)
            try? await channel.close()
        }
    }
}
