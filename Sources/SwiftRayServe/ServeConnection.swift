import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import SwiftRay

/// The proxy's connections on Hummingbird's server (its binding, accepting, and graceful
/// shutdown that quiesces each connection): NIO's HTTP/1 parser and encoder, then
/// `ServeConnectionHandler`. A request is read, routed and sent to a replica on its connection's
/// event loop, with no Swift task in the common case: Hummingbird's async channel, its
/// per-connection task and the HTTPTypes conversion cost the proxy half its time under load.
struct ServeChildChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
    }

    let responder: ServeResponder
    let idleTimeout: Duration

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Pipelined requests, malformed input and idle connections are the handler's (NIO's
            // pipelining assistance pauses reading: two epoll_ctl calls a request); replicas'
            // header fields are checked as they are copied.
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
            try channel.pipeline.syncOperations.addHandler(ServeConnectionHandler(responder: responder, idleTimeout: TimeAmount(idleTimeout)))
            return Value(channel: channel)
        }
    }

    /// The connection is served by its handlers; this only outlives it.
    func handle(value: Value, logger: Logger) async {
        try? await value.channel.closeFuture.get()
    }
}

/// One connection's requests: each is gathered (its body up to the limit), answered (by a
/// replica, or here), and its answer written back on the connection's loop. Requests that come
/// while one is being answered (HTTP pipelining) wait their turn in order; past `maxPipelined`
/// the connection stops reading until they are answered. A connection with nothing in progress
/// for `idleTimeout` (a half-sent request included) is closed, as is one asked to quiesce once
/// its requests are answered.
final class ServeConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// A request read whole, waiting for its turn.
    private struct Waiting {
        let head: HTTPRequestHead
        /// nil: the body went over the limit.
        let body: [UInt8]?
        let started: ContinuousClock.Instant
        /// Answered without asking anyone (413 from the head, 400 for malformed input).
        var settled: ProxyResponse? = nil
    }

    static let maxPipelined = 16

    private let responder: ServeResponder
    private let idleTimeout: TimeAmount
    /// The request being read (nil between requests and after one was refused from its head).
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    private var started = ContinuousClock.now
    private var queue: [Waiting] = []
    /// Whether a request is being answered.
    private var answering = false
    /// Nothing more is read or answered: the connection closes after what is queued.
    private var closing = false
    private var paused = false
    private var lastActive = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    init(responder: ServeResponder, idleTimeout: TimeAmount) {
        self.responder = responder
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { checkIdle(at: .now() + idleTimeout, context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if idleCheck == nil { checkIdle(at: .now() + idleTimeout, context) }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActive = .now()
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            started = .now
            body.clear()
            tooLarge = false
            self.head = head
            // A body declared over the limit is refused at once, not once that many bytes came;
            // the connection closes after the answer, so the body is never read.
            if responder.declaresTooMuch(head.headers) {
                let refusal = ServeResponder.error(.payloadTooLarge, "the body is over \(responder.maxBodyBytes) bytes")
                enqueue(Waiting(head: head, body: nil, started: started, settled: refusal), closing: true, context)
            }
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
            enqueue(Waiting(head: head, body: tooLarge ? nil : Array(body.readableBytesView), started: started), closing: !head.isKeepAlive, context)
        }
    }

    /// Malformed input gets a 400 (after the answers before it) and the connection closes;
    /// other errors close it at once. Input after a request that closes the connection (which
    /// the parser calls malformed) is dropped.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.close(promise: nil) }
        guard !closing else { return }
        let malformed = HTTPRequestHead(version: .http1_1, method: .GET, uri: "-")
        enqueue(Waiting(head: malformed, body: nil, started: .now, settled: ProxyResponse(status: .badRequest, headers: [:], body: [])),
                closing: true, context)
    }

    /// The server is shutting down: close now if idle, else once what was read is answered.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        closing = true
        if !answering, queue.isEmpty { context.close(promise: nil) }
    }

    /// Closes the connection at `deadline` if nothing happened on it for `idleTimeout` by then
    /// and no request is being answered; else checks again later.
    private func checkIdle(at deadline: NIODeadline, _ context: ChannelHandlerContext) {
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleCheck = nil
            if answering || !queue.isEmpty { return checkIdle(at: .now() + idleTimeout, context) }
            let due = lastActive + idleTimeout
            if NIODeadline.now() >= due { return context.close(promise: nil) }
            checkIdle(at: due, context)
        }
    }

    private func enqueue(_ request: Waiting, closing: Bool, _ context: ChannelHandlerContext) {
        queue.append(request)
        if closing { self.closing = true }
        if queue.count >= Self.maxPipelined, !paused {
            paused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        answerNext(context)
    }

    /// Answers the first queued request unless one is being answered.
    private func answerNext(_ context: ChannelHandlerContext) {
        guard !answering, !queue.isEmpty else { return }
        let next = queue.removeFirst()
        answering = true
        if paused, queue.count < Self.maxPipelined / 2 {
            paused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        let uri = URI(next.head.uri)  // parsed once: routing, the request and the access log
        let reply = Reply(self, context, head: next.head, path: uri.path, started: next.started)
        if let settled = next.settled { return reply.send(.whole(settled), application: "-") }
        dispatch(next.head, uri: uri, body: next.body, reply: reply, context)
    }

    /// The request being answered was answered whole (or its stream ended): the next one's turn,
    /// or the connection closes (once the answer is out) when it was to close after the queue.
    private func answered(_ context: ChannelHandlerContext, written: EventLoopFuture<Void>?) {
        answering = false
        lastActive = .now()
        guard closing, queue.isEmpty else { return answerNext(context) }
        let channel = context.channel
        guard let written else { return channel.close(promise: nil) }
        written.whenComplete { _ in channel.close(promise: nil) }
    }

    private func dispatch(_ head: HTTPRequestHead, uri: URI, body: [UInt8]?, reply: Reply, _ context: ChannelHandlerContext) {
        switch responder.prepare(head, uri: uri, body: body) {
        case .settled(let response, let application):
            reply.send(.whole(response), application: application)
        case .send(let request, let route):
            if route.streamContentType == nil, let (slot, submit) = route.replicas.takeSlot() {
                sendDirectly(request, on: route, slot: slot, submit: submit, reply: reply, loop: context.eventLoop)
            } else {
                let responder = responder
                Task { reply.send(await responder.answer(request, on: route), application: route.application) }
            }
        }
    }

    /// The common case without a Swift task: a replica had room, so the request is sent from
    /// here and its answer written when the node hands it over (408 first if the request
    /// timeout passes; the slot is held until the replica answers all the same). A replica
    /// found dead is replaced and the request goes the waiting path, to another replica.
    private func sendDirectly(
        _ request: ServeRequest, on route: RouteTable.Route, slot: Int, submit: Application.SubmitCall, reply: Reply, loop: any EventLoop
    ) {
        let (responder, replicas, application) = (responder, route.replicas, route.application)
        if let timeout = responder.requestTimeout {
            reply.expire(after: timeout, loop: loop) { $0.send(.whole(responder.failure(DeadlineExceeded())), application: application) }
        }
        let started = ContinuousClock.now
        submit(request).onCompletion { result in
            if case .failure(let error) = result, error is ActorDiedError {
                Task {
                    await replicas.replaceDead(slot)  // the slot goes with the replica
                    reply.send(await responder.answer(request, on: route), application: application)
                }
                return
            }
            let response: ProxyResponse
            switch result {
            case .success(let answer): response = ServeResponder.response(answer)
            case .failure(let error): response = responder.failure(error)
            }
            replicas.finished(slot, latency: .now - started, failed: (try? result.get()) == nil)
            reply.send(.whole(response), application: application)
        }
    }

    /// Where one request's answer goes: written on the connection's loop after the loop's
    /// current I/O batch (so answers for many connections go out in one turn of the loop, not
    /// one wake-up each), once: a late answer after a 408 is dropped.
    struct Reply: Sendable {
        private final class State {
            var sent = false
            var timer: Scheduled<Void>?
        }

        private let target: NIOLoopBound<(handler: ServeConnectionHandler, context: ChannelHandlerContext, state: State)>
        private let head: HTTPRequestHead
        private let path: String
        private let started: ContinuousClock.Instant

        init(_ handler: ServeConnectionHandler, _ context: ChannelHandlerContext, head: HTTPRequestHead, path: String, started: ContinuousClock.Instant) {
            target = NIOLoopBound((handler, context, State()), eventLoop: context.eventLoop)
            self.head = head
            self.path = path
            self.started = started
        }

        func send(_ answer: ProxyAnswer, application: String) {
            target.eventLoop.execute {
                let (handler, context, state) = target.value
                guard !state.sent else { return }
                state.sent = true
                state.timer?.cancel()
                handler.write(answer, for: head, path: path, application: application, started: started, context)
            }
        }

        /// Runs `expired` after `timeout` unless an answer was sent first (call on the loop).
        func expire(after timeout: Duration, loop: any EventLoop, _ expired: @escaping @Sendable (Reply) -> Void) {
            target.value.state.timer = loop.scheduleTask(in: TimeAmount(timeout)) { expired(self) }
        }
    }

    private func write(
        _ answer: ProxyAnswer, for head: HTTPRequestHead, path: String, application: String, started: ContinuousClock.Instant,
        _ context: ChannelHandlerContext
    ) {
        let status: HTTPResponseStatus
        switch answer {
        case .whole(var response):
            status = response.status
            if !response.headers.contains(name: "server") { response.headers.add(name: "server", value: "swift-ray-serve") }
            response.headers.add(name: "content-length", value: String(response.body.count))
            if closing, queue.isEmpty { response.headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: response.headers))), promise: nil)
            if !response.body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil) }
            answered(context, written: context.writeAndFlush(wrapOutboundOut(.end(nil))))
        case .stream(let contentType, let first, let lease):
            status = .ok
            let fields: HTTPHeaders = ["content-type": contentType, "server": "swift-ray-serve"]
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: fields))), promise: nil)
            if let first { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: first)))), promise: nil) }
            context.flush()
            let connection = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            Self.pump(lease, to: context.channel) {
                connection.eventLoop.execute { connection.value.0.answered(connection.value.1, written: nil) }
            }
        }
        responder.accessLog?.log(
            application: application, method: head.method.rawValue, path: path, status: Int(status.code), latency: .now - started)
    }

    /// Writes a stream's chunks as the replica yields them, each once the last was written, then
    /// hands the connection back (`ended`, on success). A client that goes away (a failed write)
    /// ends it, which drops the generator and stops the replica's stream; a failed stream closes
    /// the connection mid-body.
    private static func pump(_ lease: StreamLease, to channel: any Channel, ended: @escaping @Sendable () -> Void) {
        Task {
            do {
                while let ref = try await lease.generator.next() {
                    try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: try await ray.get(ref).bytes))))
                }
                try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
                lease.end(failed: false)
                ended()
            } catch {
                lease.end(failed: true)
                try? await channel.close()
            }
        }
    }
}
