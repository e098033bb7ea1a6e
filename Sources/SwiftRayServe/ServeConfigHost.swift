import Foundation
import Synchronization
import SwiftRay

/// Builds an application from a config's `args` (Ray's application builder, named by a config's
/// `import_path`).
public typealias ApplicationBuilder = @Sendable (_ args: JSONValue?) throws -> Application

/// The builders this process registered, by import path.
enum ServeBuilders {
    private static let builders = Mutex<[String: ApplicationBuilder]>([:])

    static func register(_ importPath: String, _ builder: @escaping ApplicationBuilder) {
        builders.withLock { $0[importPath] = builder }
    }

    static func builder(_ importPath: String) -> ApplicationBuilder? { builders.withLock { $0[importPath] } }
    static var names: [String] { builders.withLock { $0.keys.sorted() } }
}

extension Serve {
    /// Registers how to build the application a config names `importPath` (Ray's
    /// `import_path: module:app`): a Serve host (`serveConfigs()`) builds it with the config's
    /// `args`, then applies the config's deployment options over the code's.
    ///
    /// ```swift
    /// Serve.register("model_predictor") { args in
    ///     let path = try args?.decode(ModelArgs.self).modelPath ?? "model.json"
    ///     return ModelPredictor.bind { try await ModelPredictor.create(modelPath: path, options: $0) }
    /// }
    /// ```
    public static func register(_ importPath: String, _ builder: @escaping ApplicationBuilder) {
        ServeBuilders.register(importPath, builder)
    }

    /// Makes this process a Serve host: it follows the cluster's Serve config (put by
    /// `swiftray serve deploy FILE` or `PUT /api/serve/applications/` on the dashboard) and
    /// deploys it with the registered builders, until the task is cancelled. A changed config
    /// redeploys only what changed: a new `user_config` reconfigures replicas and a new
    /// `num_replicas` scales them without a restart; other changes roll the replicas; an
    /// application left out is deleted; a deleted config deletes them all. Its proxy starts on the
    /// config's `http_options` (default `127.0.0.1:8000`).
    public static func serveConfigs(every interval: Duration = .milliseconds(200)) async throws {
        let host = ConfigHost(controller: controller)
        while !Task.isCancelled {
            await host.poll()
            try await Task.sleep(for: interval)
        }
    }
}

/// Applies the cluster's Serve config to the controller.
struct ConfigHost: Sendable {
    let controller: ServeController

    func poll() async {
        let stored: [UInt8]?
        do {
            stored = try await ray.kv.get(ServeDeployConfig.key, namespace: ServeDeployConfig.namespace)
        } catch {
            return  // the head is unreachable for now: try again next time
        }
        guard stored != (await controller.appliedConfig) else { return }
        guard let stored else {
            await deleteConfigured(keeping: [])
            await controller.applied(nil, error: nil)
            return
        }
        let config: ServeDeployConfig
        do {
            config = try JSONDecoder().decode(ServeDeployConfig.self, from: Data(stored))
            if let problem = config.problem { throw ServeError(problem) }
        } catch {
            await controller.applied(stored, error: "the Serve config is not valid: \(error)")
            return
        }
        await apply(config)
        await controller.applied(stored, error: nil)
    }

    private func apply(_ config: ServeDeployConfig) async {
        if await controller.url == nil {
            let http = config.httpOptions
            do {
                _ = try await controller.start(
                    host: http?.host ?? "127.0.0.1", port: http?.port ?? 8000, maxBodyBytes: 16 << 20,
                    requestTimeout: http?.requestTimeoutS.map { .milliseconds(Int64($0 * 1000)) },
                    keepAliveTimeout: .milliseconds(Int64((http?.keepAliveTimeoutS ?? 90) * 1000)), accessLog: .standard,
                    proxyLocation: config.proxyLocation == "EveryNode" || config.proxyLocation == nil ? .everyNode : .headOnly)
            } catch {
                await controller.applied(nil, error: "\(error)")
                return
            }
        }
        await deleteConfigured(keeping: Set(config.applications.map(\.name)))
        for app in config.applications { await deploy(app) }
    }

    /// Deletes the applications a config deployed that `keeping` does not name.
    private func deleteConfigured(keeping: Set<String>) async {
        for (name, running) in await controller.applications where running.fromConfig != nil && !keeping.contains(name) {
            try? await controller.delete(name)
        }
    }

    private func deploy(_ entry: ServeDeployConfig.ApplicationConfig) async {
        let prefix = entry.routePrefix ?? "/"
        if let running = await controller.applications[entry.name], let old = running.fromConfig {
            if old == entry { return }
            if old.differsOnlyInLightweightOptions(from: entry) {
                do {
                    try await updateInPlace(running.replicas, entry)
                    await controller.updated(entry.name, entry)
                } catch {
                    await controller.failed(entry.name, prefix: prefix, "\(error)")
                }
                return
            }
        }
        do {
            guard let builder = ServeBuilders.builder(entry.importPath) else {
                throw ServeError("no application builder \(entry.importPath) in this host (it has: \(ServeBuilders.names.joined(separator: ", ")))")
            }
            let app = try builder(entry.args).applying(entry.deployments ?? [])
            _ = try await controller.run(app, name: entry.name, routePrefix: prefix, fromConfig: entry)
        } catch {
            await controller.failed(entry.name, prefix: prefix, "\(error)")
        }
    }

    /// A new `user_config` or `num_replicas`: the running replicas take it.
    private func updateInPlace(_ replicas: ReplicaSet, _ entry: ServeDeployConfig.ApplicationConfig) async throws {
        guard let options = entry.deployments?.first else { return }
        if let count = options.numReplicas { await replicas.scale(to: count) }
        if let userConfig = options.userConfig { try await replicas.reconfigure(try UserConfig(userConfig)) }
    }
}

extension ServeDeployConfig.ApplicationConfig {
    /// Whether `other` changes nothing but its deployment's `user_config` or `num_replicas` (Ray's
    /// lightweight updates, applied without restarting replicas).
    func differsOnlyInLightweightOptions(from other: Self) -> Bool {
        func heavy(_ config: Self) -> Self {
            var copy = config
            copy.deployments = copy.deployments?.map { options in
                var options = options
                options.numReplicas = nil
                options.userConfig = nil
                return options
            }
            return copy
        }
        return heavy(self) == heavy(other) && (deployments?.count ?? 0) <= 1
    }
}

extension Application {
    /// The application with a config's deployment options over its own.
    /// - Throws: `ServeError` when an option names another deployment.
    func applying(_ options: [ServeDeployConfig.DeploymentOptions]) throws -> Application {
        var config = self.config
        for option in options {
            guard option.name == deploymentName else {
                throw ServeError("the application's deployment is \(deploymentName), not \(option.name)")
            }
            try config.apply(option)
        }
        return Application(deploymentName: deploymentName, config: config, typeName: typeName, contentType: contentType, makeReplica: makeReplica)
    }
}

extension DeploymentConfig {
    mutating func apply(_ options: ServeDeployConfig.DeploymentOptions) throws {
        if let count = options.numReplicas { numReplicas = max(count, 1) }
        if let count = options.maxOngoingRequests { maxOngoingRequests = max(count, 1) }
        if let count = options.maxQueuedRequests { maxQueuedRequests = max(count, 0) }
        if let value = options.userConfig { userConfig = try UserConfig(value) }
        if let seconds = options.healthCheckPeriodS { healthCheckPeriod = .seconds(seconds) }
        if let seconds = options.healthCheckTimeoutS { healthCheckTimeout = .seconds(seconds) }
        if let seconds = options.gracefulShutdownTimeoutS { gracefulShutdownTimeout = .seconds(seconds) }
        if let scaling = options.autoscalingConfig {
            let base = autoscaling ?? AutoscalingConfig()
            autoscaling = AutoscalingConfig(
                minReplicas: scaling.minReplicas ?? base.minReplicas, maxReplicas: scaling.maxReplicas ?? base.maxReplicas,
                targetOngoingRequests: scaling.targetOngoingRequests ?? base.targetOngoingRequests,
                upscaleDelay: scaling.upscaleDelayS.map { .seconds($0) } ?? base.upscaleDelay,
                downscaleDelay: scaling.downscaleDelayS.map { .seconds($0) } ?? base.downscaleDelay, metricsInterval: base.metricsInterval)
        }
    }
}

extension JSONValue {
    /// The value decoded as `T` (an application builder's arguments).
    /// - Throws: `ServeError` naming `T` when it is not that JSON.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
        } catch {
            throw ServeError("the arguments are not a \(T.self): \(error)")
        }
    }
}
