import RayPlatform
import RayTransport
import RayWire
import Synchronization

extension Ray {
    /// The dashboard's address (`http://127.0.0.1:8265` by default) when this driver serves one:
    /// it was asked for (`includeDashboard`) and the program links the `SwiftRayDashboard` product.
    public var dashboardURL: String? { DashboardHolder.current.withLock { $0?.url } }
}

/// The dashboard an embedded cluster serves.
enum DashboardHolder {
    static let current = Mutex<(any RunningDashboard)?>(nil)

    static func start(
        host: String, port: Int, logs: (@Sendable (LogsQuery) async -> (text: String, next: Int, error: String?))?,
        keyValues: (@Sendable (KVRequest) async throws -> KVReply)?, source: @escaping @Sendable () async throws -> ClusterState
    ) async {
        guard let provider = DashboardSupport.provider else {
            RayLog.logger.debug("no dashboard: this program does not link it (add the SwiftRayDashboard product to serve one)")
            return
        }
        do {
            // Off loopback the dashboard asks for a token: this cluster's is made here and logged.
            let token = ClusterToken.generate()
            let dashboard = try await provider.start(host: host, port: port, token: token, logs: logs, keyValues: keyValues, source: source)
            current.withLock { $0 = dashboard }
            if dashboard.requiresToken {
                RayLog.logger.info("dashboard at \(dashboard.url)/?token=\(token)")
            } else {
                RayLog.logger.debug("dashboard at \(dashboard.url)")
            }
        } catch {
            RayLog.logger.warning("the dashboard could not start on \(host):\(port): \(error); continuing without it")
        }
    }

    static func stop() async {
        guard let dashboard = current.withLock({ current in defer { current = nil }; return current }) else { return }
        await dashboard.stop()
    }
}
