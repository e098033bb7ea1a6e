import RayWire

/// A dashboard being served: its address and how to stop it.
package protocol RunningDashboard: Sendable {
    /// `http://host:port`.
    var url: String { get }
    /// Whether requests must carry the cluster token (bound off loopback).
    var requiresToken: Bool { get }
    func stop() async
}

/// Serves the web dashboard of an embedded cluster. RayDashboard implements it
/// (`DashboardStarter`); `SwiftRay` reaches it only through `DashboardSupport`, so a program carries
/// Hummingbird and the metrics exporter only when it links the `SwiftRayDashboard` product (as Ray's
/// dashboard comes with `ray[default]`, not the minimal `ray`).
package protocol DashboardProvider {
    /// Serves the dashboard on `host:port` until stopped; `token` guards it off loopback.
    static func start(
        host: String, port: Int, token: String,
        logs: (@Sendable (LogsQuery) async -> (text: String, next: Int, error: String?))?,
        keyValues: (@Sendable (KVRequest) async throws -> KVReply)?,
        source: @escaping @Sendable () async throws -> ClusterState
    ) async throws -> any RunningDashboard
}

/// Where an embedded cluster gets its dashboard from.
package enum DashboardSupport {
    /// RayDashboard's starter, if this binary links it (`RayDashboard.DashboardStarter`).
    package static var provider: (any DashboardProvider.Type)? {
        _typeByName("12RayDashboard16DashboardStarterO") as? any DashboardProvider.Type
    }
}
