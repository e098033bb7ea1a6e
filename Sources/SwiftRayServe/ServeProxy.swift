import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle
import SwiftRay
import Synchronization

/// The routes the proxy serves: application route prefixes to their replicas.
final class RouteTable: Sendable {
    /// An application's route.
    struct Route: Sendable {
        let prefix: String
        let application: String
        let replicas: ReplicaSet
        /// A streaming deployment's content type (nil: whole responses).
        let streamContentType: String?
    }

    private let routes = Mutex<[String: Route]>([:])

    /// Routes `prefix` to application `name`'s replicas (nil: no longer routed).
    func set(_ prefix: String, _ target: (name: String, replicas: ReplicaSet, streamContentType: String?)?) {
        routes.withLock {
            $0[prefix] = target.map { Route(prefix: prefix, application: $0.name, replicas: $0.replicas, streamContentType: $0.streamContentType) }
        }
    }

    /// The routed prefixes.
    var prefixes: [String] { routes.withLock { Array($0.keys) } }

    /// The longest prefix matching `path` (`/a` matches `/a` and `/a/b`, not `/ab`).
    func match(_ path: String) -> Route? {
        routes.withLock { routes in
            var best: Route?
            for route in routes.values where (best?.prefix.utf8.count ?? -1) < route.prefix.utf8.count {
                if route.prefix == "/" || path == route.prefix || (path.hasPrefix(route.prefix) && path.utf8.dropFirst(route.prefix.utf8.count).first == UInt8(ascii: "/")) {
                    best = route
                }
            }
            return best
        }
    }
}

/// The HTTP ingress (Ray Serve's proxy, on Hummingbird): a request goes to the application whose
/// route prefix is the longest match of its path, JSON bodies are checked, and the replica's
/// answer is sent back; 404 for no application, 400 for a body that is not the JSON it claims to
/// be (or that the replica could not decode), 503 with `Retry-After` when the deployment is at
/// its limit, 500 with the error when the replica throws.
struct ServeResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let routes: RouteTable
    /// Bodies larger than this are refused (413).
    let maxBodyBytes: Int
    /// A request not answered by then gets 408 (Ray's `request_timeout_s`); nil: no limit.
    let requestTimeout: Duration?
    let accessLog: AccessLogWriter?

    func respond(to request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        let route = routes.match(request.uri.path)
        let response = await answer(request, on: route)
        accessLog?.log(
            application: route?.application ?? "-", method: request.method.rawValue, path: request.uri.path, status: response.status.code,
            latency: .now - start)
        return response
    }

    private func answer(_ request: Request, on route: RouteTable.Route?) async -> Response {
        let path = request.uri.path
        guard let route else { return Self.error(.notFound, "no application serves \(path)") }
        let (prefix, replicas) = (route.prefix, route.replicas)
        // A body declared over the limit is refused at once, not once that many bytes came.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxBodyBytes {
            return Self.error(.contentTooLarge, "the body is over \(maxBodyBytes) bytes")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxBodyBytes)
        } catch {
            return Self.error(.contentTooLarge, "the body is over \(maxBodyBytes) bytes")
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let bytes = Array(body.readableBytesView)
        if headers["content-type"]?.contains("json") == true, !bytes.isEmpty,
           (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil {
            return Self.error(.badRequest, "the body is not valid JSON")
        }
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        let serveRequest = ServeRequest(
            method: request.method.rawValue, path: path, routePrefix: prefix, query: query, headers: headers, body: bytes)
        do {
            if let contentType = route.streamContentType { return try await Self.streamed(serveRequest, from: replicas, as: contentType) }
            return Self.response(try await Self.reply(serveRequest, from: replicas, within: requestTimeout))
        } catch is DeadlineExceeded {
            return Self.error(.requestTimeout, "no answer within \(requestTimeout.map { "\($0)" } ?? "")")
        } catch let overloaded as ServeOverloaded {
            var response = Self.error(.serviceUnavailable, overloaded.description)
            response.headers[.retryAfter] = "1"
            return response
        } catch let failure as RayTaskError where failure.errorType.hasSuffix("BadRequest") || failure.errorType.contains("DecodingError") {
            return Self.error(.badRequest, failure.message)
        } catch {
            return Self.error(.internalServerError, "\(error)")
        }
    }

    /// The replicas' answer, or `DeadlineExceeded` once `timeout` passed.
    static func reply(_ request: ServeRequest, from replicas: ReplicaSet, within timeout: Duration?) async throws -> ServeResponse {
        guard let timeout else { return try await replicas.handle(request) }
        return try await withDeadline(timeout) { try await replicas.handle(request) }
    }

    /// A streaming deployment's answer: the first chunk is awaited (so an early error still gets
    /// its status), then each chunk is written as the replica yields it. A client that goes away
    /// ends the write, which drops the generator and stops the replica's stream.
    static func streamed(_ request: ServeRequest, from replicas: ReplicaSet, as contentType: String) async throws -> Response {
        let lease = try await replicas.openStream(request)
        let first: ServeChunk?
        do {
            if let ref = try await lease.generator.next() { first = try await ray.get(ref) } else { first = nil }
        } catch {
            lease.end(failed: true)
            throw error
        }
        let body = ResponseBody { writer in
            var failed = true
            defer { lease.end(failed: failed) }
            if let first { try await writer.write(ByteBuffer(bytes: first.bytes)) }
            while let ref = try await lease.generator.next() {
                try await writer.write(ByteBuffer(bytes: try await ray.get(ref).bytes))
            }
            failed = false
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: contentType], body: body)
    }

    static func response(_ answer: ServeResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers { if let name = HTTPField.Name(name) { fields[name] = value } }
        return Response(status: .init(code: answer.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let body = (try? encoder.encode(["error": message])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: body)))
    }
}

/// A running proxy: its address and how to stop it.
final class ServeProxy: Sendable {
    let host: String
    let port: Int
    private let services: ServiceGroup
    private let server: Task<Void, Never>

    private init(host: String, port: Int, services: ServiceGroup, server: Task<Void, Never>) {
        self.host = host
        self.port = port
        self.services = services
        self.server = server
    }

    var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Serves `routes` on `host:port` (0: a free port), closing connections idle for `keepAlive`.
    /// - Throws: `ServeError` naming the address when it cannot be bound.
    static func start(
        host: String, port: Int, routes: RouteTable, maxBodyBytes: Int, requestTimeout: Duration?, keepAlive: Duration,
        accessLog: AccessLogWriter?
    ) async throws -> ServeProxy {
        // The bound port once the server runs, or why it could not.
        let (ports, bound) = AsyncThrowingStream<Int, any Error>.makeStream()
        var logger = Logger(label: "swiftray.serve")
        logger.logLevel = .warning  // not a line per start
        logger.handler = LazyMetadataLogHandler(logger.handler)
        let app = Hummingbird.Application(
            responder: ServeResponder(routes: routes, maxBodyBytes: maxBodyBytes, requestTimeout: requestTimeout, accessLog: accessLog),
            // A connection idle past the keep-alive timeout is closed, so idle clients cannot hold
            // descriptors for ever.
            server: .http1(configuration: .init(idleTimeout: TimeAmount(keepAlive))),
            configuration: .init(address: .hostname(host, port: port), serverName: "swift-ray-serve"),
            onServerRunning: { channel in
                bound.yield(channel.localAddress?.port ?? port)
                bound.finish()
            }, logger: logger)
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let server = Task {
            do {
                try await services.run()
            } catch {
                bound.finish(throwing: error)
            }
            bound.finish()
        }
        do {
            var iterator = ports.makeAsyncIterator()
            guard let actual = try await iterator.next() else { throw ServeError("the server stopped before it listened") }
            return ServeProxy(host: host, port: actual, services: services, server: server)
        } catch {
            server.cancel()
            throw ServeError("the Serve proxy cannot listen on \(host):\(port): \(error)")
        }
    }

    func stop() async {
        await services.triggerGracefulShutdown()
        _ = await server.value
    }
}

/// The first of several results, handed to one waiter.
final class Race<T: Sendable>: Sendable {
    private let state = Mutex<(result: Result<T, any Error>?, waiter: CheckedContinuation<T, any Error>?)>((nil, nil))

    func finish(_ result: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// The proxy's log handler: Hummingbird gives each request's logger a request id, and the standard
/// handler formats its metadata whenever it is set (a cost on every request); this one keeps the
/// metadata as given and hands it over only with a line that is written.
struct LazyMetadataLogHandler: LogHandler {
    private let base: any LogHandler
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    init(_ base: any LogHandler) {
        self.base = base
        logLevel = base.logLevel
    }

    func log(event: LogEvent) {
        var event = event
        event.metadata = metadata.merging(event.metadata ?? [:]) { $1 }
        base.log(event: event)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
