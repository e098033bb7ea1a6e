import Hummingbird
import Logging
import NIOCore
import RayPlatform
import RayTransport
import ServiceLifecycle

/// The node's health port (Ray's dashboard agent port, 52365 under KubeRay): `GET
/// /api/local_raylet_healthz` answers `success` while `healthy` says so, else 503, so Kubernetes
/// probes restart a node that lost its way. No token: it tells nothing but "alive".
package final class HealthServer: Sendable {
    private let services: ServiceGroup
    private let server: Task<Void, Never>
    /// The port it listens on (what 0 became).
    package let port: Int

    private init(services: ServiceGroup, server: Task<Void, Never>, port: Int) {
        self.services = services
        self.server = server
        self.port = port
    }

    /// Serves on `host:port` (0: any free port) once bound, with the dashboard's connection bounds.
    /// - Throws: `ClusterError` naming the address when it cannot be bound.
    package static func start(
        host: String, port: Int, limits: Dashboard.Limits = Dashboard.Limits(), healthy: @escaping @Sendable () async -> Bool
    ) async throws -> HealthServer {
        let router = Router()
        router.get("/api/local_raylet_healthz") { _, _ in try await answer(healthy) }
        router.get("/api/healthz") { _, _ in try await answer(healthy) }
        let logger = RateLimitedLogHandler.wrapping(Logger(label: "swiftray.health"))
        let bound = BoundPort()
        let app = Application(
            router: router, server: limits.http1, configuration: .init(address: .hostname(host, port: port), serverName: "swift-ray"),
            onServerRunning: { channel in bound.set(.success(channel.localAddress?.port ?? port)) }, logger: logger)
        let (services, server) = bound.run(app, logger: logger)
        do {
            return HealthServer(services: services, server: server, port: try await bound.value())
        } catch {
            server.cancel()
            throw ClusterError("the health port cannot listen on \(host):\(port): \(error)")
        }
    }

    private static func answer(_ healthy: @Sendable () async -> Bool) async throws -> Response {
        guard await healthy() else { throw HTTPError(.serviceUnavailable, message: "unhealthy") }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "success")))
    }

    package func stop() async {
        await services.triggerGracefulShutdown()
        _ = await server.value
    }
}
