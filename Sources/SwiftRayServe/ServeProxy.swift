import Foundation
import HummingbirdCore
import NIOHTTP1
import Logging
import NIOCore
import NIOPosix
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

/// A whole answer.
struct ProxyResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: [UInt8]
}

/// The proxy's answer to one request: a whole body, or a streaming deployment's chunks.
enum ProxyAnswer: Sendable {
    case whole(ProxyResponse)
    /// The first chunk is already in hand (so an early error still got its status); the rest
    /// are read from the lease's generator as they come.
    case stream(contentType: String, first: [UInt8]?, lease: StreamLease)
}

/// The HTTP ingress (Ray Serve's proxy): a request goes to the application whose route prefix is
/// the longest match of its path, JSON bodies are checked, and the replica's answer is sent back;
/// 404 for no application, 400 for a body that is not the JSON it claims to be (or that the
/// replica could not decode), 413 for a body over the limit, 503 with `Retry-After` when the
/// deployment is at its limit, 408 past the request timeout, 500 with the error when the replica
/// throws. `ServeConnectionHandler` reads requests off the connection and writes these answers.
struct ServeResponder: Sendable {
    let routes: RouteTable
    /// Bodies larger than this are refused (413).
    let maxBodyBytes: Int
    /// A request not answered by then gets 408 (Ray's `request_timeout_s`); nil: no limit.
    let requestTimeout: Duration?
    let accessLog: AccessLogWriter?

    /// Whether `head` declares a body over the limit (refused before any of it is read).
    func declaresTooMuch(_ headers: HTTPHeaders) -> Bool {
        headers.first(name: "content-length").flatMap { Int($0) }.map { $0 > maxBodyBytes } ?? false
    }

    /// A request read off a connection: ready for its application's replicas, or settled here.
    enum Prepared {
        case send(ServeRequest, RouteTable.Route)
        /// Answered without a replica (404, 413, 400 for bad JSON).
        case settled(ProxyResponse, application: String)
    }

    /// Routes `head` (its target parsed as `uri`) with `body` (nil: the body went over the
    /// limit) and checks what can be checked here.
    func prepare(_ head: HTTPRequestHead, uri: URI, body: [UInt8]?) -> Prepared {
        guard let route = routes.match(uri.path) else {
            return .settled(Self.error(.notFound, "no application serves \(uri.path)"), application: "-")
        }
        guard let body else {
            return .settled(Self.error(.payloadTooLarge, "the body is over \(maxBodyBytes) bytes"), application: route.application)
        }
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name.lowercased()] = value }
        if headers["content-type"]?.contains("json") == true, !body.isEmpty,
           (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])) == nil {
            return .settled(Self.error(.badRequest, "the body is not valid JSON"), application: route.application)
        }
        var query: [String: String] = [:]
        for (key, value) in uri.queryParameters { query[String(key)] = String(value) }
        return .send(
            ServeRequest(method: head.method.rawValue, path: uri.path, routePrefix: route.prefix, query: query, headers: headers, body: body),
            route)
    }

    /// The answer of `route`'s replicas to `request`, waiting for room on one when all are busy.
    func answer(_ request: ServeRequest, on route: RouteTable.Route) async -> ProxyAnswer {
        do {
            if let contentType = route.streamContentType { return try await Self.streamed(request, from: route.replicas, as: contentType) }
            return .whole(Self.response(try await Self.reply(request, from: route.replicas, within: requestTimeout)))
        } catch {
            return .whole(failure(error))
        }
    }

    /// The answer to a request that failed with `error`.
    func failure(_ error: any Error) -> ProxyResponse {
        switch error {
        case is DeadlineExceeded:
            return Self.error(.requestTimeout, "no answer within \(requestTimeout.map { "\($0)" } ?? "")")
        case let overloaded as ServeOverloaded:
            var refused = Self.error(.serviceUnavailable, overloaded.description)
            refused.headers.add(name: "retry-after", value: "1")
            return refused
        case let failure as RayTaskError where failure.errorType.hasSuffix("BadRequest") || failure.errorType.contains("DecodingError"):
            return Self.error(.badRequest, failure.message)
        default:
            return Self.error(.internalServerError, "\(error)")
        }
    }

    /// The replicas' answer, or `DeadlineExceeded` once `timeout` passed.
    static func reply(_ request: ServeRequest, from replicas: ReplicaSet, within timeout: Duration?) async throws -> ServeResponse {
        guard let timeout else { return try await replicas.handle(request) }
        return try await withDeadline(timeout) { try await replicas.handle(request) }
    }

    /// A streaming deployment's answer: the first chunk is awaited (so an early error still gets
    /// its status); the connection handler writes the rest as the replica yields them.
    static func streamed(_ request: ServeRequest, from replicas: ReplicaSet, as contentType: String) async throws -> ProxyAnswer {
        let lease = try await replicas.openStream(request)
        do {
            let first = if let ref = try await lease.generator.next() { try await ray.get(ref).bytes } else { nil as [UInt8]? }
            return .stream(contentType: contentType, first: first, lease: lease)
        } catch {
            lease.end(failed: true)
            throw error
        }
    }

    static func response(_ answer: ServeResponse) -> ProxyResponse {
        var headers = HTTPHeaders()
        for (name, value) in answer.headers where isToken(name) && isFieldValue(value) && !framing.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        return ProxyResponse(status: HTTPResponseStatus(statusCode: answer.status), headers: headers, body: answer.body)
    }

    /// A replica's header name is sent only when it is an HTTP token and its value holds no
    /// line break or NUL (no response splitting through a replica's headers).
    static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 > 32 && $0 < 127 && !separators.contains($0) }
    }

    private static let separators = Set("()<>@,;:\\\"/[]?={}".utf8)
    /// The message's framing and the connection are the proxy's: a replica's say on them is dropped.
    private static let framing: Set<String> = ["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"]

    static func isFieldValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0 || $0 == 10 || $0 == 13 }
    }

    static func error(_ status: HTTPResponseStatus, _ message: String) -> ProxyResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let body = (try? encoder.encode(["error": message])) ?? Data()
        return ProxyResponse(status: status, headers: ["content-type": "application/json"], body: Array(body))
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
        let connections = ServeChildChannel(
            responder: ServeResponder(routes: routes, maxBodyBytes: maxBodyBytes, requestTimeout: requestTimeout, accessLog: accessLog),
            // A connection idle past the keep-alive timeout is closed, so idle clients cannot hold
            // descriptors for ever.
            idleTimeout: keepAlive)
        let app = connections.server(
            configuration: .init(address: .hostname(host, port: port), serverName: "swift-ray-serve"),
            onServerRunning: { channel in
                bound.yield(channel.localAddress?.port ?? port)
                bound.finish()
            }, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger)
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
