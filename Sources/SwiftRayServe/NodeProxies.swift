import Foundation
import SwiftRay

/// A route as a node's proxy receives it: the application's deployment by its handle.
struct RouteSpec: Codable, Sendable {
    let prefix: String
    let application: String
    let handle: DeploymentHandle
    let streamContentType: String?
}

/// How a node's proxy listens.
struct ProxyOptions: Codable, Sendable {
    let host: String
    let port: Int
    let maxBodyBytes: Int
    let requestTimeoutMilliseconds: Int64?
    let keepAliveMilliseconds: Int64
}

/// The proxy on another node (Ray runs one per node, so no single proxy carries every request):
/// an actor pinned to its node serving HTTP there, routing each request straight to the
/// replicas with its own power-of-two-choices over the handles the controller sends.
@RayActor
distributed actor ServeNodeProxy {
    private var proxy: ServeProxy?
    private let routes = RouteTable()

    /// Starts listening; returns the proxy's URL (the node's address when bound to all interfaces).
    distributed func start(_ options: ProxyOptions, nodeAddress: String) async throws -> String {
        if let proxy { return proxy.url }
        let started = try await ServeProxy.start(
            host: options.host, port: options.port, routes: routes, maxBodyBytes: options.maxBodyBytes,
            requestTimeout: options.requestTimeoutMilliseconds.map { .milliseconds($0) },
            keepAlive: .milliseconds(options.keepAliveMilliseconds), accessLog: try AccessLogWriter(path: AccessLog.standard.path!))
        proxy = started
        let host = ["0.0.0.0", "::"].contains(options.host) ? nodeAddress : options.host
        return "http://\(host.contains(":") ? "[\(host)]" : host):\(started.port)"
    }

    /// Serves exactly `specs` from now on.
    distributed func setRoutes(_ specs: [RouteSpec]) throws {
        let wanted = Set(specs.map(\.prefix))
        for prefix in routes.prefixes where !wanted.contains(prefix) { routes.set(prefix, nil) }
        for spec in specs {
            routes.set(spec.prefix, (spec.application, try RemoteReplicas.set(for: spec.handle), spec.streamContentType))
        }
    }

    distributed func stop() async {
        await proxy?.stop()
        proxy = nil
    }
}

/// The controller's proxies on the other nodes: one started on each live node (checked every
/// second), each sent the routes whenever an application or its replicas change.
actor NodeProxies {
    private var proxies: [String: (actor: ServeNodeProxy, url: String)] = [:]
    /// The routes last sent (their applications, prefixes and replicas).
    private var sentSignature = ""
    /// Nodes whose proxy is being started (a sync overlapping another must not start a second).
    private var starting: Set<String> = []

    /// Node ids to proxy URLs.
    var urls: [String: String] { proxies.mapValues(\.url) }

    /// Starts proxies on live nodes without one (but `skipping`, served in-process) and forgets
    /// those of dead nodes. A proxy that cannot start is logged and tried again next time.
    func sync(skipping own: String, options: ProxyOptions) async {
        guard let nodes = try? await ray.state.nodes() else { return }
        let alive = Set(nodes.filter(\.alive).map(\.nodeID))
        for node in proxies.keys where !alive.contains(node) { proxies[node] = nil }
        for node in nodes where node.alive && node.nodeID != own && proxies[node.nodeID] == nil && !starting.contains(node.nodeID) {
            starting.insert(node.nodeID)
            defer { starting.remove(node.nodeID) }
            do {
                let actor = try await ray.actor(
                    ServeNodeProxy.self,
                    options: ActorOptions(numCPUs: 0, name: nil, schedulingStrategy: .nodeAffinity(nodeID: node.nodeID, soft: false)))
                let url = try await actor.start(options, nodeAddress: String(node.address.split(separator: ":").first ?? ""))
                proxies[node.nodeID] = (actor, url)
                sentSignature = ""  // the new proxy needs the routes
            } catch {
                FileHandle.standardError.write(Data("serve: cannot start the proxy on node \(node.nodeID): \(error)\n".utf8))
            }
        }
    }

    /// Sends `routes` to every proxy when they differ from those last sent.
    func send(_ routes: [RouteSpec]) async {
        let signature = routes.map { "\($0.application)|\($0.prefix)|\($0.handle.replicaIDs.map { "\($0.raw)" })" }.sorted().joined(separator: ";")
        guard signature != sentSignature, !proxies.isEmpty else { return }
        sentSignature = signature
        for (node, proxy) in proxies {
            do {
                try await proxy.actor.setRoutes(routes)
            } catch {
                FileHandle.standardError.write(Data("serve: cannot update the proxy on node \(node): \(error)\n".utf8))
                proxies[node] = nil  // started again on the next sync
                sentSignature = ""
            }
        }
    }

    /// Stops and kills every proxy.
    func stopAll() async {
        for proxy in proxies.values {
            _ = try? await proxy.actor.stop()
            try? ray.kill(proxy.actor)
        }
        proxies = [:]
        sentSignature = ""
    }
}
