import Foundation
import Hummingbird
import NIOCore
import RayWire

/// Ray Serve's REST API on the dashboard port: `PUT /api/serve/applications/` stores a Serve config
/// (JSON, Ray's schema) in the cluster's key-value store, where Serve hosts pick it up;
/// `GET` answers Ray's `ServeInstanceDetails` from what the hosts publish; `DELETE` removes the
/// config, and the hosts delete its applications.
enum ServeRoutes {
    static let path = "/api/serve/applications/"
    /// The largest config accepted.
    static let maxConfigBytes = 1 << 20

    static func add(to router: Router<BasicRequestContext>, source: @escaping Dashboard.StateSource, keyValues: Dashboard.KeyValueSource?) {
        do {  // Hummingbird matches the path with and without its final slash
            router.get(RouterPath(path)) { _, _ in
                let config = try await storedConfig(keyValues)
                return try DashboardRoutes.json(ServeDetails(hosts: try await source().serve, config: config))
            }
            router.put(RouterPath(path)) { request, _ in
                let store = try requireStore(keyValues)
                let body = try await request.body.collect(upTo: maxConfigBytes)
                let config = try decode(Data(body.readableBytesView))
                let encoded = try JSONEncoder().encode(config)
                _ = try await store(.put(namespace: ServeDeployConfig.namespace, key: ServeDeployConfig.key, value: Array(encoded), overwrite: true))
                return try DashboardRoutes.json([String: String]())
            }
            router.delete(RouterPath(path)) { _, _ in
                let store = try requireStore(keyValues)
                _ = try await store(.delete(namespace: ServeDeployConfig.namespace, key: ServeDeployConfig.key))
                return try DashboardRoutes.json([String: String]())
            }
        }
    }

    /// The config in `body`, checked.
    /// - Throws: `HTTPError` 400 naming what is wrong.
    static func decode(_ body: Data) throws -> ServeDeployConfig {
        let config: ServeDeployConfig
        do {
            config = try JSONDecoder().decode(ServeDeployConfig.self, from: body)
        } catch {
            throw HTTPError(.badRequest, message: "not a Serve config: \(describe(error))")
        }
        if let problem = config.problem { throw HTTPError(.badRequest, message: problem) }
        return config
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "the body is not JSON" : context.debugDescription
        default:
            return "\(error)"
        }
    }

    private static func requireStore(_ keyValues: Dashboard.KeyValueSource?) throws -> Dashboard.KeyValueSource {
        guard let keyValues else { throw HTTPError(.serviceUnavailable, message: "this dashboard has no key-value store to keep a Serve config in") }
        return keyValues
    }

    private static func storedConfig(_ keyValues: Dashboard.KeyValueSource?) async throws -> ServeDeployConfig? {
        guard let keyValues,
              case .value(let bytes?) = try await keyValues(.get(namespace: ServeDeployConfig.namespace, key: ServeDeployConfig.key))
        else { return nil }
        return try? JSONDecoder().decode(ServeDeployConfig.self, from: Data(bytes))
    }
}

/// Ray's `ServeInstanceDetails`, as `GET /api/serve/applications/` answers it.
struct ServeDetails: Encodable {
    struct Proxy: Encodable {
        let nodeID: String
        let status: String
        let url: String?
        /// The host's process (nil: an actor on that node).
        let pid: Int32?
        enum CodingKeys: String, CodingKey {
            case status, url, pid
            case nodeID = "node_id"
        }
    }

    struct Deployment: Encodable {
        let name: String
        let status: String
        let message: String
        let targetNumReplicas: Int
        let replicaStates: [String: Int]
        let stats: ServeDeploymentStatus
        let deploymentConfig: ServeDeployConfig.DeploymentOptions?
        enum CodingKeys: String, CodingKey {
            case name, status, message, stats
            case targetNumReplicas = "target_num_replicas"
            case replicaStates = "replica_states"
            case deploymentConfig = "deployment_config"
        }
    }

    struct Application: Encodable {
        let name: String
        let routePrefix: String
        let status: String
        let message: String
        let lastDeployedTimeS: Double
        let source: String
        let deployedAppConfig: ServeDeployConfig.ApplicationConfig?
        let deployments: [String: Deployment]
        enum CodingKeys: String, CodingKey {
            case name, status, message, source, deployments
            case routePrefix = "route_prefix"
            case lastDeployedTimeS = "last_deployed_time_s"
            case deployedAppConfig = "deployed_app_config"
        }
    }

    let proxyLocation: String
    let httpOptions: ServeDeployConfig.HTTPOptions?
    let proxies: [String: Proxy]
    let deployMode = "MULTI_APP"
    let applications: [String: Application]
    /// Why the hosts could not apply the stored config, if they could not.
    let configErrors: [String]

    enum CodingKeys: String, CodingKey {
        case proxies, applications
        case proxyLocation = "proxy_location"
        case httpOptions = "http_options"
        case deployMode = "deploy_mode"
        case configErrors = "config_errors"
    }

    init(hosts: [ServeHostStatus], config: ServeDeployConfig?) {
        proxyLocation = config?.proxyLocation ?? "EveryNode"
        httpOptions = config?.httpOptions
        var proxies: [String: Proxy] = [:]
        var applications: [String: Application] = [:]
        for host in hosts {
            if let url = host.proxyURL { proxies[host.nodeID] = Proxy(nodeID: host.nodeID, status: "HEALTHY", url: url, pid: host.pid) }
            for (node, url) in host.nodeProxies { proxies[node] = Proxy(nodeID: node, status: "HEALTHY", url: url, pid: nil) }
            for app in host.applications {
                let entry = config?.applications.first { $0.name == app.name }
                let stats = app.deployment
                let deployment = Deployment(
                    name: stats.name, status: stats.status, message: "", targetNumReplicas: stats.targetReplicas,
                    replicaStates: stats.runningReplicas > 0 ? ["RUNNING": stats.runningReplicas] : [:], stats: stats,
                    deploymentConfig: entry?.deployments?.first { $0.name == stats.name })
                applications[app.name] = Application(
                    name: app.name, routePrefix: app.routePrefix, status: app.status, message: app.message,
                    lastDeployedTimeS: app.lastDeployedTimeS, source: entry == nil ? "imperative" : "declarative", deployedAppConfig: entry,
                    deployments: [stats.name: deployment])
            }
        }
        // Applications of the config no host has taken up yet.
        for entry in config?.applications ?? [] where applications[entry.name] == nil {
            applications[entry.name] = Application(
                name: entry.name, routePrefix: entry.routePrefix ?? "/", status: "NOT_STARTED",
                message: hosts.isEmpty ? "no Serve host is running: start one (Serve.serveConfigs())" : "", lastDeployedTimeS: 0,
                source: "declarative", deployedAppConfig: entry, deployments: [:])
        }
        self.proxies = proxies
        self.applications = applications
        configErrors = hosts.compactMap(\.configError)
    }
}
