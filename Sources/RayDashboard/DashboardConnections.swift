import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import RayTransport

/// A connection with the dashboard's bounds in front of whatever `base` sets up: the connection
/// cap, the idle closer, and (`answerMalformed`, for the websocket-upgrade channel, which does not
/// itself) a 400 for requests that do not parse.
struct GuardedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let idle: TimeAmount
    let open: ConnectionLimit
    var answerMalformed = true

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandlers([
                ConnectionCap(open: open), IdleStateHandler(allTimeout: idle), IdleConnectionCloser(),
            ])
        }.flatMap { base.setup(channel: channel, logger: logger) }.flatMapThrowing { [answerMalformed] value in
            if answerMalformed { try channel.pipeline.syncOperations.addHandler(MalformedRequestAnswer()) }
            return value
        }
    }

    func handle(value: Base.Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

extension Dashboard.Limits {
    /// The header bounds for Hummingbird's HTTP/1 decoder.
    var decoder: HTTP1Channel.Configuration.DecoderConfiguration {
        .init(maxHeaderFieldSize: maxHeaderBytes, maxHeaderListSize: maxHeaderBytes, maxHeaderFieldCount: 200)
    }

    /// Plain HTTP/1.1 (no websockets) within these bounds: the health port's server. Hummingbird's
    /// plain channel answers malformed requests itself (its response parts carry `ByteBuffer`s).
    var http1: HTTPServerBuilder {
        let idle = TimeAmount(idleTimeout)
        let configuration = HTTP1Channel.Configuration(idleTimeout: idle, httpDecoderConfiguration: decoder)
        let open = ConnectionLimit(limit: maxConnections)
        return HTTPServerBuilder { responder in
            GuardedChildChannel(
                base: HTTP1Channel(responder: responder, configuration: configuration), idle: idle, open: open, answerMalformed: false)
        }
    }
}

/// Refuses a connection over the cap at once with `503` and `Retry-After` rather than leaving it in
/// the listen backlog, where a flood of idle clients would hold every later one for minutes. The
/// first handler of the pipeline, so its answer goes straight to the socket (through TLS if any).
final class ConnectionCap: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = ByteBuffer

    private static let answer = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    private let open: ConnectionLimit
    private var admitted = false

    init(open: ConnectionLimit) { self.open = open }

    func channelActive(context: ChannelHandlerContext) {
        admitted = open.admit()
        context.fireChannelActive()
        if !admitted { refuse(context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if admitted { context.fireChannelRead(data) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted { open.leave() }
        admitted = false
        context.fireChannelInactive()
    }

    private func refuse(_ context: ChannelHandlerContext) {
        let refused = open.refused()
        if refused == 1 || refused % 1000 == 0 {
            Logger(label: "swiftray.dashboard").warning(
                "refused a connection: \(open.limit) are open (\(refused) refused so far)")
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: Self.answer))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Answers a request the HTTP decoder cannot parse with 400 and closes the connection, as
/// Hummingbird's plain HTTP/1 channel does (its websocket-upgrade channel leaves it open): garbage
/// on the port, or a swift-ray client pointed at it, gets a clear answer at once.
final class MalformedRequestAnswer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = HTTPServerResponsePart

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.fireErrorCaught(error) }
        let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: ["Content-Length": "0", "Connection": "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Closes a connection when `IdleStateHandler` reports it idle: Hummingbird's own idle timeout
/// spares a connection whose request never parsed, and a client that neither reads its 400 nor
/// closes would otherwise hold the descriptor for good.
final class IdleConnectionCloser: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        context.close(promise: nil)
    }
}
