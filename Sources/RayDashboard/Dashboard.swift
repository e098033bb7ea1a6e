import Foundation
import Hummingbird
import HummingbirdWebSocket
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import RayJobs
import RayPlatform
import RayTransport
import RayWire
import ServiceLifecycle
import Synchronization

/// The web dashboard (Ray's, at `127.0.0.1:8265` by default): an overview page and a JSON API over
/// the state API's snapshots, plus a Prometheus `/metrics` endpoint. Bound to anything but
/// loopback, its API requires the cluster token as `Authorization: Bearer TOKEN` (the page asks
/// for it, or takes it from a `#token=TOKEN` link). Given `secure` (TLS around its HTTP server, as
/// the head under `--tls` passes it) it serves HTTPS. Connections are bounded (`Limits`): idle ones, slow or oversized headers and clients that
/// never read an error are closed, and at most `maxConnections` are open at once.
///
/// API: `GET /api/state` (everything), `/api/nodes`, `/api/workers`, `/api/tasks`, `/api/actors`,
/// `/api/objects`, `/api/placement_groups`, `/api/tune` (tuning experiments, their
/// trials and learning curves) (each filterable by field: `?state=RUNNING`),
/// `/api/serve/applications/` (Ray's Serve REST API: `GET` the applications, `PUT` a Serve config
/// for the cluster's Serve hosts to deploy, `DELETE` them all), `/api/summary/tasks`, `/api/history` (samples over time), `/api/timeline` (Chrome trace),
/// `/api/logs?pid=N` (a worker's kept output; also `actor=` or `task=`, `tail=`, `offset=`), and
/// `/metrics`.
package final class Dashboard: Sendable {
    /// Where snapshots come from (the node manager of this process).
    package typealias StateSource = @Sendable () async throws -> ClusterState
    /// Where worker logs come from (text, the offset to follow from, or an error).
    package typealias LogSource = @Sendable (LogsQuery) async -> (text: String, next: Int, error: String?)
    /// The cluster's key-value store (where the Serve REST API keeps the desired config).
    package typealias KeyValueSource = @Sendable (KVRequest) async throws -> KVReply

    /// Bounds on the dashboard's connections.
    package struct Limits: Sendable {
        /// A connection with no request bytes read and no response bytes written for this long is
        /// closed (idle keep-alive, a header trickling in, a client that never reads a 400); by
        /// default the cluster's idle-connection timeout (10 s, `SWIFTRAY_IDLE_CONNECTION_TIMEOUT_S`).
        package var idleTimeout: Duration
        /// Connections open at once; more are answered `503` with `Retry-After` and closed.
        package var maxConnections: Int
        /// Bytes of request header accepted (larger: 400 and closed).
        package var maxHeaderBytes: Int

        package init(idleTimeout: Duration = ConnectionLimit.idleTimeout, maxConnections: Int = Limits.defaultMaxConnections, maxHeaderBytes: Int = 32 << 10) {
            self.idleTimeout = idleTimeout
            self.maxConnections = maxConnections
            self.maxHeaderBytes = maxHeaderBytes
        }

        /// 128, or a quarter of this process's descriptor limit if that is lower (at least 8): the
        /// dashboard never takes the descriptors the cluster needs.
        package static var defaultMaxConnections: Int {
            var limit = rlimit()
            #if os(Linux)
            let resource = Int32(RLIMIT_NOFILE.rawValue)
            #else
            let resource = RLIMIT_NOFILE
            #endif
            guard getrlimit(resource, &limit) == 0, limit.rlim_cur < 1 << 30 else { return 128 }
            return max(8, min(128, Int(limit.rlim_cur) / 4))
        }
    }

    package let host: String
    package let port: Int
    /// Whether requests must carry the token (bound off loopback).
    package let requiresToken: Bool
    /// Whether it serves HTTPS.
    package let secure: Bool
    private let server: Task<Void, Never>
    private let services: ServiceGroup
    private let sampler: Task<Void, Never>

    private init(
        host: String, port: Int, requiresToken: Bool, secure: Bool, server: Task<Void, Never>, services: ServiceGroup,
        sampler: Task<Void, Never>
    ) {
        self.services = services
        self.host = host
        self.port = port
        self.requiresToken = requiresToken
        self.secure = secure
        self.server = server
        self.sampler = sampler
    }

    /// Wraps the dashboard's HTTP server in TLS (HummingbirdTLS's `.tls(_:tlsConfiguration:)`).
    public typealias Secure = @Sendable (HTTPServerBuilder) throws -> HTTPServerBuilder

    /// Serves the dashboard on `host:port` (0: any free port) until `stop()`, over HTTPS when
    /// `secure` wraps it in TLS.
    /// - Throws: `ClusterError` when the address cannot be bound (naming it), or the certificate
    ///   cannot be used.
    package static func start(
        host: String, port: Int, token: String?, secure: Secure? = nil, limits: Limits = Limits(), logs: LogSource? = nil,
        keyValues: KeyValueSource? = nil, jobs: JobManager? = nil, source: @escaping StateSource
    ) async throws -> Dashboard {
        let needsToken = !["127.0.0.1", "localhost", "::1"].contains(host)
        if needsToken, token == nil { throw ClusterError("a dashboard bound to \(host) needs the cluster token") }
        let history = History()
        let metrics = DashboardMetrics()
        let router = Router()
        if needsToken, let token { router.add(middleware: TokenMiddleware(token: token)) }
        router.add(middleware: WatchedMiddleware(history: history))
        DashboardRoutes.add(to: router, source: source, logs: logs, history: history, metrics: metrics)
        ServeRoutes.add(to: router, source: source, keyValues: keyValues)
        JobRoutes.add(to: router, jobs: jobs, token: token, source: source)
        let sockets = Router(context: BasicWebSocketRequestContext.self)
        if needsToken, let token { sockets.add(middleware: TokenMiddleware(token: token)) }
        JobRoutes.addTail(to: sockets, jobs: jobs)
        let bound = BoundPort()
        let app = Application(
            router: router, server: try httpServer(limits: limits, secure: secure, sockets: sockets),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "swift-ray"),
            onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? port)) },
            logger: RateLimitedLogHandler.wrapping(Logger(label: "swiftray.dashboard")))
        let (services, server) = bound.run(app, logger: Logger(label: "swiftray.dashboard"))
        let actualPort: Int
        do {
            actualPort = try await bound.value()
        } catch {
            server.cancel()
            throw ClusterError("the dashboard cannot listen on \(host):\(port): \(error)")
        }
        let sampler = Task {
            while !Task.isCancelled {
                if history.watched, let state = try? await source() { history.add(state) }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        return Dashboard(
            host: host, port: actualPort, requiresToken: needsToken, secure: secure != nil, server: server, services: services,
            sampler: sampler)
    }

    /// HTTP/1.1 with the connection bounds and websocket upgrades for `sockets`' routes (pinged
    /// every 4 s, so a quiet log tail is not taken for an idle connection), inside TLS when given.
    /// The idle closer goes on before the upgrade negotiation, which adds Hummingbird's own
    /// handlers only once a request head parsed: a client that never completes one is closed too.
    private static func httpServer(limits: Limits, secure: Secure?, sockets: Router<BasicWebSocketRequestContext>) throws -> HTTPServerBuilder {
        let idle = TimeAmount(limits.idleTimeout)
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: idle, httpDecoderConfiguration: limits.decoder),
            ws: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(4))))
        let webSockets = sockets.buildResponder()
        let open = ConnectionLimit(limit: limits.maxConnections)
        let http = HTTPServerBuilder { responder in
            GuardedChildChannel(
                base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSockets, configuration: configuration),
                idle: idle, open: open)
        }
        return try secure?(http) ?? http
    }

    /// `http://host:port` (`https` when secure).
    package var url: String { "\(secure ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    package func stop() async {
        sampler.cancel()
        await services.triggerGracefulShutdown()
        _ = await server.value
    }
}

/// The port the server bound, once it runs (or why it could not).
final class BoundPort: Sendable {
    /// Runs `app` in a service group of its own; a failure to serve becomes this port's error.
    func run(_ app: some Service, logger: Logger) -> (ServiceGroup, Task<Void, Never>) {
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let server = Task {
            do {
                try await services.run()
            } catch {
                self.set(.failure(error))
            }
        }
        return (services, server)
    }

    private let state = Mutex<(result: Result<Int, any Error>?, waiter: CheckedContinuation<Int, any Error>?)>((nil, nil))

    func set(_ result: Result<Int, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Int, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Int, any Error>? in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// Marks the dashboard as watched on its first request.
struct WatchedMiddleware<Context: RequestContext>: RouterMiddleware {
    let history: History

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        history.markWatched()
        return try await next(request, context)
    }
}

/// Rejects requests without `Authorization: Bearer TOKEN`, except for the page itself (which holds
/// no data and asks for the token). A token in the URL is not accepted: URLs end up in logs.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The page itself and the health probe (what kubelet calls, without a token) need none.
        if request.uri.path == "/" || request.uri.path == "/api/gcs_healthz" { return try await next(request, context) }
        let header = request.headers[.authorization]
        let given = header.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let given, ClusterToken.matches(given, token) else {
            return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "the cluster token is required\n")))
        }
        return try await next(request, context)
    }
}

extension Dashboard: RunningDashboard {}

/// Starts the dashboard of an embedded cluster (`SwiftRay` finds this type by name: see
/// `DashboardSupport`).
package enum DashboardStarter: DashboardProvider {
    package static func start(
        host: String, port: Int, token: String, logs: Dashboard.LogSource?, keyValues: Dashboard.KeyValueSource?,
        source: @escaping Dashboard.StateSource
    ) async throws -> any RunningDashboard {
        try await Dashboard.start(host: host, port: port, token: token, logs: logs, keyValues: keyValues, source: source)
    }
}
