import HummingbirdCore
import HummingbirdTLS
import RayDashboard
import RayTLS

/// The head's dashboard under `--tls`: HTTPS with the cluster's certificate.
enum DashboardTLS {
    static func secure(_ tls: ClusterTLS) -> Dashboard.Secure {
        { http in try .tls(http, tlsConfiguration: try tls.serverConfiguration()) }
    }
}
