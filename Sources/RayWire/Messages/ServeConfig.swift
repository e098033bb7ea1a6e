/// A Serve config file (Ray's `ServeDeploySchema`, the body of `PUT /api/serve/applications/` and
/// what `swiftray serve deploy FILE` sends): the applications a cluster should serve. In JSON and
/// YAML its keys are Ray's (`route_prefix`, `import_path`, `num_replicas`, ...).
///
/// `import_path` names an application builder a Serve host process registered
/// (`Serve.register("model_predictor") { args in ... }`): Swift cannot import code at run time, so
/// the code comes from the host, the config from the file.
public struct ServeDeployConfig: Codable, Sendable, Equatable {
    /// `"EveryNode"` (default), `"HeadOnly"` or `"Disabled"`.
    public var proxyLocation: String?
    public var httpOptions: HTTPOptions?
    public var applications: [ApplicationConfig]

    public struct HTTPOptions: Codable, Sendable, Equatable {
        public var host: String?
        public var port: Int?
        public var requestTimeoutS: Double?
        /// How long an idle keep-alive connection stays open (Ray's default 90 s).
        public var keepAliveTimeoutS: Double?

        public init(host: String? = nil, port: Int? = nil, requestTimeoutS: Double? = nil, keepAliveTimeoutS: Double? = nil) {
            self.host = host
            self.port = port
            self.requestTimeoutS = requestTimeoutS
            self.keepAliveTimeoutS = keepAliveTimeoutS
        }

        enum CodingKeys: String, CodingKey {
            case host, port
            case requestTimeoutS = "request_timeout_s"
            case keepAliveTimeoutS = "keep_alive_timeout_s"
        }
    }

    public struct ApplicationConfig: Codable, Sendable, Equatable {
        public var name: String
        public var routePrefix: String?
        public var importPath: String
        /// Handed to the builder.
        public var args: JSONValue?
        /// Options over the builder's deployment (by its name).
        public var deployments: [DeploymentOptions]?

        public init(
            name: String, routePrefix: String? = nil, importPath: String, args: JSONValue? = nil, deployments: [DeploymentOptions]? = nil
        ) {
            self.name = name
            self.routePrefix = routePrefix
            self.importPath = importPath
            self.args = args
            self.deployments = deployments
        }

        enum CodingKeys: String, CodingKey {
            case name, args, deployments
            case routePrefix = "route_prefix"
            case importPath = "import_path"
        }
    }

    /// A deployment's options as a config sets them (nil: the code's value).
    public struct DeploymentOptions: Codable, Sendable, Equatable {
        public var name: String
        public var numReplicas: Int?
        public var maxOngoingRequests: Int?
        public var maxQueuedRequests: Int?
        public var userConfig: JSONValue?
        public var autoscalingConfig: AutoscalingOptions?
        public var healthCheckPeriodS: Double?
        public var healthCheckTimeoutS: Double?
        public var gracefulShutdownTimeoutS: Double?

        public init(name: String, numReplicas: Int? = nil, userConfig: JSONValue? = nil) {
            self.name = name
            self.numReplicas = numReplicas
            self.userConfig = userConfig
        }

        enum CodingKeys: String, CodingKey {
            case name
            case numReplicas = "num_replicas"
            case maxOngoingRequests = "max_ongoing_requests"
            case maxQueuedRequests = "max_queued_requests"
            case userConfig = "user_config"
            case autoscalingConfig = "autoscaling_config"
            case healthCheckPeriodS = "health_check_period_s"
            case healthCheckTimeoutS = "health_check_timeout_s"
            case gracefulShutdownTimeoutS = "graceful_shutdown_timeout_s"
        }
    }

    public struct AutoscalingOptions: Codable, Sendable, Equatable {
        public var minReplicas: Int?
        public var maxReplicas: Int?
        public var targetOngoingRequests: Double?
        public var upscaleDelayS: Double?
        public var downscaleDelayS: Double?

        enum CodingKeys: String, CodingKey {
            case minReplicas = "min_replicas"
            case maxReplicas = "max_replicas"
            case targetOngoingRequests = "target_ongoing_requests"
            case upscaleDelayS = "upscale_delay_s"
            case downscaleDelayS = "downscale_delay_s"
        }
    }

    public init(proxyLocation: String? = nil, httpOptions: HTTPOptions? = nil, applications: [ApplicationConfig]) {
        self.proxyLocation = proxyLocation
        self.httpOptions = httpOptions
        self.applications = applications
    }

    enum CodingKeys: String, CodingKey {
        case applications
        case proxyLocation = "proxy_location"
        case httpOptions = "http_options"
    }

    /// The key-value namespace Serve keeps its desired config and its hosts' statuses in.
    public static let namespace = "_swiftray_serve"
    /// The desired config's key.
    public static let key = "config"

    /// What is wrong with it (nil: nothing): names and route prefixes unique, prefixes starting
    /// with `/`, every application an import path, counts not negative, a known proxy location.
    public var problem: String? {
        var names = Set<String>(), prefixes = Set<String>()
        if let location = proxyLocation, !["EveryNode", "HeadOnly", "Disabled"].contains(location) {
            return "proxy_location is EveryNode, HeadOnly or Disabled, not \(location)"
        }
        if let port = httpOptions?.port, !(0...65535).contains(port) { return "http_options.port \(port) is not a port" }
        for app in applications {
            if app.name.isEmpty { return "an application has no name" }
            guard names.insert(app.name).inserted else { return "two applications are named \(app.name)" }
            if app.importPath.isEmpty { return "application \(app.name) has no import_path" }
            let prefix = app.routePrefix ?? "/"
            guard prefix.hasPrefix("/") else { return "application \(app.name)'s route_prefix must start with '/': \(prefix)" }
            guard prefixes.insert(prefix).inserted else { return "two applications have the route_prefix \(prefix)" }
            for deployment in app.deployments ?? [] {
                if let count = deployment.numReplicas, count < 0 { return "\(deployment.name).num_replicas is negative" }
                if let count = deployment.maxOngoingRequests, count < 1 { return "\(deployment.name).max_ongoing_requests must be at least 1" }
            }
        }
        return nil
    }
}

/// One Serve host as it publishes itself (key `host-<pid>-<start>` of `ServeDeployConfig.namespace`):
/// its proxy and its applications, for the dashboard's Serve page, its REST API and `/metrics`.
public struct ServeHostStatus: Codable, Sendable, Equatable {
    /// The host's process and node.
    public var pid: Int32
    public var nodeID: String
    /// The proxy's URL (nil: none running), and those of its proxies on other nodes by node id.
    public var proxyURL: String?
    public var nodeProxies: [String: String]
    /// Microseconds since 1970 at this update (a host that stopped publishing is dropped).
    public var updatedAt: Int64
    /// The import paths it can build from a config.
    public var builders: [String]
    /// The config it applied last (its JSON), and why it could not (nil: it could).
    public var appliedConfig: String?
    public var configError: String?
    public var applications: [ServeApplicationStatus]

    public init(
        pid: Int32, nodeID: String, proxyURL: String?, nodeProxies: [String: String] = [:], updatedAt: Int64, builders: [String], appliedConfig: String?, configError: String?,
        applications: [ServeApplicationStatus]
    ) {
        self.pid = pid
        self.nodeID = nodeID
        self.proxyURL = proxyURL
        self.nodeProxies = nodeProxies
        self.updatedAt = updatedAt
        self.builders = builders
        self.appliedConfig = appliedConfig
        self.configError = configError
        self.applications = applications
    }
}

/// An application and its deployment, with the deployment's request statistics.
public struct ServeApplicationStatus: Codable, Sendable, Equatable {
    public var name: String
    public var routePrefix: String
    /// `RUNNING`, `DEPLOYING`, `DEPLOY_FAILED` or `DELETING` (Ray's application statuses).
    public var status: String
    public var message: String
    /// Seconds since 1970 of its last deploy.
    public var lastDeployedTimeS: Double
    public var deployment: ServeDeploymentStatus

    public init(
        name: String, routePrefix: String, status: String, message: String, lastDeployedTimeS: Double, deployment: ServeDeploymentStatus
    ) {
        self.name = name
        self.routePrefix = routePrefix
        self.status = status
        self.message = message
        self.lastDeployedTimeS = lastDeployedTimeS
        self.deployment = deployment
    }
}

public struct ServeDeploymentStatus: Codable, Sendable, Equatable {
    public var name: String
    /// `HEALTHY`, `UPDATING` or `UNHEALTHY`.
    public var status: String
    public var targetReplicas: Int
    public var runningReplicas: Int
    public var ongoingRequests: Int
    public var queuedRequests: Int
    /// Requests answered, failed (the replica threw), refused (overloaded) and replicas replaced.
    public var served: Int
    public var failed: Int
    public var refused: Int
    public var replaced: Int
    /// Request latency in milliseconds: counts per bucket (`le` upper bounds, the last +Inf),
    /// their sum, and the 50th and 99th percentiles of the last requests.
    public var latencyBucketsMs: [Double]
    public var latencyCounts: [Int]
    public var latencySumMs: Double
    public var p50Ms: Double?
    public var p99Ms: Double?

    public init(
        name: String, status: String, targetReplicas: Int, runningReplicas: Int, ongoingRequests: Int, queuedRequests: Int, served: Int,
        failed: Int, refused: Int, replaced: Int, latencyBucketsMs: [Double], latencyCounts: [Int], latencySumMs: Double,
        p50Ms: Double?, p99Ms: Double?
    ) {
        self.name = name
        self.status = status
        self.targetReplicas = targetReplicas
        self.runningReplicas = runningReplicas
        self.ongoingRequests = ongoingRequests
        self.queuedRequests = queuedRequests
        self.served = served
        self.failed = failed
        self.refused = refused
        self.replaced = replaced
        self.latencyBucketsMs = latencyBucketsMs
        self.latencyCounts = latencyCounts
        self.latencySumMs = latencySumMs
        self.p50Ms = p50Ms
        self.p99Ms = p99Ms
    }
}
