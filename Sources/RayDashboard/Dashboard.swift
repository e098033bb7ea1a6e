import Foundation
import Hummingbird
import Logging
import NIOCore
import RayCore
import RayWire
import ServiceLifecycle
import Synchronization

/// The web dashboard (Ray's, at `127.0.0.1:8265` by default): an overview page and a JSON API over
/// the state API's snapshots, plus a Prometheus `/metrics` endpoint. Bound to anything but
/// loopback it requires the cluster token (`Authorization: Bearer TOKEN`, or `?token=TOKEN`).
///
/// API: `GET /api/state` (everything), `/api/nodes`, `/api/workers`, `/api/tasks`, `/api/actors`,
/// `/api/objects`, `/api/jobs`, `/api/placement_groups` (each filterable by field: `?state=RUNNING`),
/// `/api/summary/tasks`, `/api/history` (samples over time), `/api/timeline` (Chrome trace),
/// `/api/logs?pid=N` (a worker's kept output; also `actor=` or `task=`, `tail=`, `offset=`), and
/// `/metrics`.
public final class Dashboard: Sendable {
    /// Where snapshots come from (the node manager of this process).
    public typealias StateSource = @Sendable () async throws -> ClusterState
    /// Where worker logs come from (text, the offset to follow from, or an error).
    public typealias LogSource = @Sendable (LogsQuery) async -> (text: String, next: Int, error: String?)

    public let host: String
    public let port: Int
    /// Whether requests must carry the token (bound off loopback).
    public let requiresToken: Bool
    private let server: Task<Void, Never>
    private let services: ServiceGroup
    private let sampler: Task<Void, Never>

    private init(
        host: String, port: Int, requiresToken: Bool, server: Task<Void, Never>, services: ServiceGroup, sampler: Task<Void, Never>
    ) {
        self.services = services
        self.host = host
        self.port = port
        self.requiresToken = requiresToken
        self.server = server
        self.sampler = sampler
    }

    /// Serves the dashboard on `host:port` (0: any free port) until `stop()`.
    /// - Throws: when the address cannot be bound.
    public static func start(
        host: String, port: Int, token: String?, logs: LogSource? = nil, source: @escaping StateSource
    ) async throws -> Dashboard {
        let needsToken = !["127.0.0.1", "localhost", "::1"].contains(host)
        if needsToken, token == nil { throw ClusterError("a dashboard bound to \(host) needs the cluster token") }
        let history = History()
        let metrics = DashboardMetrics()
        let router = Router()
        if needsToken, let token { router.add(middleware: TokenMiddleware(token: token)) }
        router.add(middleware: WatchedMiddleware(history: history))
        DashboardRoutes.add(to: router, source: source, logs: logs, history: history, metrics: metrics)
        let bound = BoundPort()
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "swift-ray"),
            onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? port)) },
            logger: Logger(label: "swiftray.dashboard"))
        let logger = Logger(label: "swiftray.dashboard")
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let server = Task {
            do {
                try await services.run()
            } catch {
                bound.set(.failure(error))
            }
        }
        let actualPort: Int
        do {
            actualPort = try await bound.value()
        } catch {
            server.cancel()
            throw error
        }
        let sampler = Task {
            while !Task.isCancelled {
                if history.watched, let state = try? await source() { history.add(state) }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        return Dashboard(host: host, port: actualPort, requiresToken: needsToken, server: server, services: services, sampler: sampler)
    }

    /// `http://host:port`.
    public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    public func stop() async {
        sampler.cancel()
        await services.triggerGracefulShutdown()
        _ = await server.value
    }
}

/// The port the server bound, once it runs (or why it could not).
private final class BoundPort: Sendable {
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

/// Rejects requests without the cluster token.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let header = request.headers[.authorization]
        let given = header.map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : $0 } ?? request.uri.queryParameters.get("token")
        guard let given, ClusterToken.matches(given, token) else {
            return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "the cluster token is required\n")))
        }
        return try await next(request, context)
    }
}
