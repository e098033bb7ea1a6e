import Foundation
import SwiftRay

/// Ray Serve: deployments served over HTTP by a proxy in this process, each request sent to one
/// of the deployment's replicas (actors on the cluster).
///
/// ```swift
/// try await Ray.start()
/// try await Serve.run(ModelPredictor.bind { try await ModelPredictor.create(modelPath: "model.json", options: $0) })
/// // curl -X POST localhost:8000/ -d '{"features": [1, 2, 3]}'
/// ```
public enum Serve {
    static let controller = ServeController()

    /// Starts the HTTP proxy on `host:port` (Ray's `serve.start(http_options=...)`; port 0 picks
    /// a free one) and returns its URL; `run` starts it on `127.0.0.1:8000` when not started.
    /// Bodies over `maxBodyBytes` are refused with 413; a request not answered within
    /// `requestTimeout` gets 408 (Ray's `request_timeout_s`; nil: no limit). Every request is
    /// logged to `accessLog` (by default `$TMPDIR/swiftray/serve/access-<pid>.log`). A connection
    /// with no request for `keepAliveTimeout` is closed (Ray's `keep_alive_timeout_s`, 90 s).
    ///
    /// With `proxyLocation: .everyNode` (the default, as Ray's) each other node of the cluster gets
    /// a proxy too (an actor on that node, listening on `host:port` there), so requests can enter
    /// anywhere and no one proxy carries them all. While the proxy runs, this process publishes its
    /// applications to the cluster (the dashboard's Serve page, `GET /api/serve/applications/`,
    /// `/metrics`).
    @discardableResult
    public static func start(
        host: String = "127.0.0.1", port: Int = 8000, maxBodyBytes: Int = 16 << 20, requestTimeout: Duration? = nil,
        keepAliveTimeout: Duration = .seconds(90), accessLog: AccessLog = .standard, proxyLocation: ProxyLocation = .everyNode
    ) async throws -> String {
        try await controller.start(
            host: host, port: port, maxBodyBytes: maxBodyBytes, requestTimeout: requestTimeout, keepAliveTimeout: keepAliveTimeout,
            accessLog: accessLog, proxyLocation: proxyLocation)
    }

    /// The access log's path (nil: none, or the proxy is not running).
    public static var accessLogPath: String? { get async { await controller.accessLogPath } }

    /// The proxy's URL (`http://127.0.0.1:8000`), nil when it is not running.
    public static var url: String? { get async { await controller.url } }

    /// Deploys `app` as application `name` under `routePrefix` (Ray's `serve.run`): its replicas
    /// are created (waiting until all are up, each given `userConfig` when it has `reconfigure`), then
    /// the route serves them. Running a name again replaces its replicas once the new ones are up;
    /// requests on the old ones finish there before they are killed (`gracefulShutdownTimeout`).
    /// - Throws: `ServeError` when another application holds the route prefix; a replica's
    ///   constructor error.
    @discardableResult
    public static func run(_ app: Application, name: String = "default", routePrefix: String = "/") async throws -> DeploymentHandle {
        try await controller.run(app, name: name, routePrefix: routePrefix)
    }

    /// Gives application `name`'s replicas a new user config without restarting them (each
    /// `ReconfigurableDeployment` replica's `reconfigure` runs; Ray's lightweight config update).
    /// - Throws: `ServeError` when there is no such application; a replica's `reconfigure` error.
    public static func reconfigure(_ name: String = "default", userConfig: UserConfig) async throws {
        try await controller.reconfigure(name, userConfig: userConfig)
    }

    /// Each application and its deployment's replicas and request counts (Ray's `serve.status()`).
    public static func status() async -> [ApplicationStatus] { await controller.status() }

    /// A handle to application `name`'s deployment, to call it from Swift.
    public static func handle(_ name: String = "default") async throws -> DeploymentHandle { try await controller.handle(name) }

    /// Removes application `name`: its route stops serving (404) and its replicas go.
    /// - Throws: `ServeError` when there is none.
    public static func delete(_ name: String) async throws { try await controller.delete(name) }

    /// Removes every application and stops the proxy.
    public static func shutdown() async { await controller.shutdown() }
}

/// Where proxies run (Ray's `proxy_location`).
public enum ProxyLocation: String, Sendable, Codable {
    /// One on every node: this process serves its own node, an actor serves each other node (the
    /// default; new nodes get one within a second).
    case everyNode = "EveryNode"
    /// Only this process's proxy.
    case headOnly = "HeadOnly"
}

/// An application as `Serve.status()` reports it.
public struct ApplicationStatus: Sendable, Equatable, Codable {
    public let name: String
    public let routePrefix: String
    public let deployment: String
    public let replicas: Int
    public let ongoingRequests: Int
    public let queuedRequests: Int
    public let servedRequests: Int
    public let failedRequests: Int
}

/// The applications, their routes and the proxy, changed one call at a time; published to the
/// cluster's key-value store for the dashboard while the proxy runs.
actor ServeController {
    struct Running {
        var prefix: String
        let replicas: ReplicaSet
        var typeName: String
        var contentType: String?
        var deployedAt: Date
        /// The config entry it was deployed from (nil: `Serve.run`).
        var fromConfig: ServeDeployConfig.ApplicationConfig?
    }

    private var proxy: ServeProxy?
    private var accessLog: AccessLogWriter?
    /// How proxies on other nodes listen, and whether there are any (`.everyNode`).
    private var proxyOptions: ProxyOptions?
    private var proxyLocation = ProxyLocation.everyNode
    let nodeProxies = NodeProxies()
    /// The replicas last published per application (for handles in other processes).
    private var publishedHandles: [String: String] = [:]
    private let routes = RouteTable()
    private(set) var applications: [String: Running] = [:]
    /// Applications being deployed for the first time, and those a config could not deploy.
    private(set) var deploying: [String: String] = [:]
    private(set) var failures: [String: (prefix: String, message: String)] = [:]
    /// Publishes every second while the proxy runs (`startPublishing`).
    var publisher: Task<Void, Never>?
    let publishKey = "host-\(getpid())-\(Int64(Date().timeIntervalSince1970 * 1e6))"
    /// The config it applied last (JSON), and what was wrong with it.
    var appliedConfig: [UInt8]?
    var configError: String?

    var url: String? { proxy?.url }
    var accessLogPath: String? { accessLog?.path }

    func start(
        host: String, port: Int, maxBodyBytes: Int, requestTimeout: Duration?, keepAliveTimeout: Duration = .seconds(90), accessLog log: AccessLog,
        proxyLocation: ProxyLocation = .everyNode
    ) async throws -> String {
        if let proxy { return proxy.url }
        self.proxyLocation = proxyLocation
        proxyOptions = ProxyOptions(
            host: host, port: port, maxBodyBytes: maxBodyBytes, requestTimeoutMilliseconds: requestTimeout.map { Int64($0 / .milliseconds(1)) },
            keepAliveMilliseconds: Int64(keepAliveTimeout / .milliseconds(1)))
        let writer = try log.path.map { try AccessLogWriter(path: $0) }
        let started = try await ServeProxy.start(
            host: host, port: port, routes: routes, maxBodyBytes: maxBodyBytes, requestTimeout: requestTimeout, keepAlive: keepAliveTimeout,
            accessLog: writer)
        proxy = started
        accessLog = writer
        startPublishing()
        return started.url
    }

    func run(_ app: Application, name: String, routePrefix: String, fromConfig: ServeDeployConfig.ApplicationConfig? = nil) async throws
        -> DeploymentHandle
    {
        guard routePrefix.hasPrefix("/") else { throw ServeError("a route prefix starts with '/': \(routePrefix)") }
        let prefix = routePrefix.count > 1 && routePrefix.hasSuffix("/") ? String(routePrefix.dropLast()) : routePrefix
        if let holder = applications.first(where: { $0.value.prefix == prefix && $0.key != name }) {
            throw ServeError("the route prefix \(prefix) is application \(holder.key)'s")
        }
        if proxy == nil { _ = try await start(host: "127.0.0.1", port: 8000, maxBodyBytes: 16 << 20, requestTimeout: nil, accessLog: .standard) }
        let make: ReplicaSet.Make = { try await app.makeReplica(app.config.actorOptions) }
        let replicas: ReplicaSet
        if let old = applications[name] {
            replicas = old.replicas
            try await replicas.roll(to: app.config, deployment: app.deploymentName, make: make)
            if old.prefix != prefix { routes.set(old.prefix, nil) }
        } else {
            deploying[name] = prefix
            defer { deploying[name] = nil }
            replicas = ReplicaSet(deployment: app.deploymentName, config: app.config, make: make)
            try await replicas.fill(app.config.initialReplicas)
        }
        await replicas.startBackgroundWork()
        applications[name] = Running(
            prefix: prefix, replicas: replicas, typeName: app.typeName, contentType: app.contentType, deployedAt: Date(), fromConfig: fromConfig)
        failures[name] = nil
        routes.set(prefix, (name, replicas, app.contentType))
        await syncRoutes()
        await publish()
        return await DeploymentHandle(replicas, typeName: app.typeName, application: name)
    }

    func reconfigure(_ name: String, userConfig: UserConfig) async throws {
        guard let running = applications[name] else { throw ServeError("no application named \(name)") }
        try await running.replicas.reconfigure(userConfig)
    }

    func handle(_ name: String) async throws -> DeploymentHandle {
        guard let running = applications[name] else { throw ServeError("no application named \(name)") }
        return await DeploymentHandle(running.replicas, typeName: running.typeName, application: name)
    }

    func status() async -> [ApplicationStatus] {
        var statuses: [ApplicationStatus] = []
        for (name, running) in applications.sorted(by: { $0.key < $1.key }) {
            let replicas = running.replicas
            statuses.append(ApplicationStatus(
                name: name, routePrefix: running.prefix, deployment: await replicas.deployment, replicas: await replicas.replicaCount,
                ongoingRequests: await replicas.ongoing, queuedRequests: await replicas.queued, servedRequests: await replicas.served,
                failedRequests: await replicas.failed))
        }
        return statuses
    }

    func delete(_ name: String) async throws {
        guard let running = applications.removeValue(forKey: name) else { throw ServeError("no application named \(name)") }
        routes.set(running.prefix, nil)
        await syncRoutes()
        await running.replicas.close()  // in-flight requests finish first
        await publish()
    }

    func shutdown() async {
        for name in applications.keys { try? await delete(name) }
        failures = [:]
        publisher?.cancel()
        publisher = nil
        await nodeProxies.stopAll()
        if proxy != nil { _ = try? await ray.kv.delete(publishKey, namespace: ServeDeployConfig.namespace) }
        await proxy?.stop()
        proxy = nil
        accessLog = nil
        appliedConfig = nil
        configError = nil
    }

    /// Publishes each application's replicas for the handles other processes decoded, and (with
    /// `.everyNode`) starts proxies on new nodes and sends them the current routes.
    func syncRoutes() async {
        var specs: [RouteSpec] = []
        for (name, running) in applications {
            specs.append(RouteSpec(
                prefix: running.prefix, application: name,
                handle: await DeploymentHandle(running.replicas, typeName: running.typeName, application: name),
                streamContentType: running.contentType))
        }
        await publishHandles(specs)
        guard proxyLocation == .everyNode, let proxyOptions, proxy != nil else { return }
        await nodeProxies.sync(skipping: ray.runtimeContext.nodeID, options: proxyOptions)
        await nodeProxies.send(specs)
    }

    /// Writes the handles whose replicas changed, and removes those of deleted applications.
    private func publishHandles(_ specs: [RouteSpec]) async {
        let namespace = ServeDeployConfig.namespace
        for spec in specs {
            let signature = spec.handle.replicaIDs.map { "\($0.raw)" }.joined(separator: ",")
            guard publishedHandles[spec.application] != signature, let data = try? JSONEncoder().encode(spec.handle) else { continue }
            if (try? await ray.kv.put(RemoteReplicas.key(application: spec.application), Array(data), namespace: namespace)) != nil {
                publishedHandles[spec.application] = signature
            }
        }
        for name in publishedHandles.keys where !specs.contains(where: { $0.application == name }) {
            _ = try? await ray.kv.delete(RemoteReplicas.key(application: name), namespace: namespace)
            publishedHandles[name] = nil
        }
    }

    /// Records that a config could not deploy application `name`.
    func failed(_ name: String, prefix: String, _ message: String) async {
        failures[name] = (prefix, message)
        FileHandle.standardError.write(Data("serve: cannot deploy \(name): \(message)\n".utf8))
        await publish()
    }

    /// Records a lightweight update from a config.
    func updated(_ name: String, _ entry: ServeDeployConfig.ApplicationConfig) async {
        applications[name]?.fromConfig = entry
        failures[name] = nil
        await publish()
    }

    func applied(_ config: [UInt8]?, error: String?) async {
        appliedConfig = config
        configError = error
        await publish()
    }
}
