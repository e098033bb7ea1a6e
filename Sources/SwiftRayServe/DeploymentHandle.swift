import Foundation
import Synchronization
import SwiftRay

/// Calls a deployment from Swift (Ray's `DeploymentHandle`). In the driver it goes through the
/// same replicas, limits and queue as HTTP requests; passed to another deployment's constructor
/// (it is `Codable`) it carries the replicas' actors, and that process routes to them itself
/// (power of two choices over its own ongoing counts), which is how deployments compose. A handle
/// to an application follows it: when its replicas change (a redeploy, a replacement, scaling),
/// the controller publishes them and decoded handles pick them up within half a second, or at
/// once when a call finds its replica gone.
///
/// ```swift
/// let model = try await Serve.run(Model.bind(), name: "model", routePrefix: "/model")
/// try await Serve.run(Pipeline.bind { try await Pipeline.create(model: model, options: $0) }, name: "pipeline")
/// ```
public struct DeploymentHandle: Sendable, Codable {
    public let deploymentName: String
    let typeName: String
    let replicaIDs: [RayActorID]
    let config: DeploymentConfig.Limits
    /// The application it calls, whose replicas it follows (nil: these replicas only).
    let application: String?
    /// The driver's replica set (nil in a process that decoded the handle).
    private let local: ReplicaSet?

    init(_ replicas: ReplicaSet, typeName: String, application: String? = nil) async {
        self.application = application
        deploymentName = await replicas.deployment
        self.typeName = typeName
        replicaIDs = await replicas.actorIDs
        config = DeploymentConfig.Limits(await replicas.config)
        local = replicas
    }

    enum CodingKeys: String, CodingKey { case deploymentName, typeName, replicaIDs, config, application }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        deploymentName = try container.decode(String.self, forKey: .deploymentName)
        typeName = try container.decode(String.self, forKey: .typeName)
        replicaIDs = try container.decode([RayActorID].self, forKey: .replicaIDs)
        config = try container.decode(DeploymentConfig.Limits.self, forKey: .config)
        application = try container.decodeIfPresent(String.self, forKey: .application)
        local = nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deploymentName, forKey: .deploymentName)
        try container.encode(typeName, forKey: .typeName)
        try container.encode(replicaIDs, forKey: .replicaIDs)
        try container.encode(config, forKey: .config)
        try container.encodeIfPresent(application, forKey: .application)
    }

    /// Sends `request` to a replica and returns its answer.
    public func call(_ request: ServeRequest) async throws -> ServeResponse {
        try await replicaSet().handle(request)
    }

    /// The replicas this handle routes over: the driver's set, or this process's for a decoded handle.
    func replicaSet() throws -> ReplicaSet { try local ?? RemoteReplicas.set(for: self) }

    /// A `StreamingDeployment`'s chunks for `request`, handed over as its replica yields them (Ray's
    /// `handle.options(stream=True)`); the replica's slot is held until the stream ends or the
    /// sequence is dropped.
    public func stream(_ request: ServeRequest) -> AsyncThrowingStream<ServeChunk, any Error> {
        let puller = ChunkPuller { [self] in try await replicaSet().openStream(request) }
        return AsyncThrowingStream { try await puller.next() }  // pulls one chunk per `next()`: the replica's backpressure holds
    }

    /// Sends `value` as a JSON POST and decodes the JSON answer.
    public func call<Input: Encodable, Output: Decodable>(json value: Input, as type: Output.Type = Output.self) async throws -> Output {
        try await call(ServeRequest.json(value)).json(Output.self)
    }
}

extension DeploymentConfig {
    /// The limits a handle in another process keeps to.
    struct Limits: Codable, Sendable {
        let maxOngoingRequests: Int
        let maxQueuedRequests: Int

        init(_ config: DeploymentConfig) {
            maxOngoingRequests = config.maxOngoingRequests
            maxQueuedRequests = config.maxQueuedRequests
        }
    }
}

/// A handle's stream, opened on the first `next()` and read one chunk at a time.
final class ChunkPuller: Sendable {
    private let open: @Sendable () async throws -> StreamLease
    private let lease = Mutex<StreamLease?>(nil)

    init(open: @escaping @Sendable () async throws -> StreamLease) { self.open = open }

    func next() async throws -> ServeChunk? {
        let current: StreamLease
        if let opened = lease.withLock({ $0 }) {
            current = opened
        } else {
            current = try await open()
            lease.withLock { $0 = current }
        }
        guard let ref = try await current.generator.next() else {
            current.end(failed: false)
            return nil
        }
        return try await ray.get(ref)
    }
}

/// The replica sets of handles decoded in this process, one per deployment's replicas.
enum RemoteReplicas {
    private static let sets = Mutex<[String: ReplicaSet]>([:])
    /// How often a set checks its application's published replicas.
    static let refreshInterval = Duration.milliseconds(500)

    /// The KV key an application's current handle is published under (namespace
    /// `ServeDeployConfig.namespace`).
    static func key(application: String) -> String { "handle/" + application }

    static func set(for handle: DeploymentHandle) throws -> ReplicaSet {
        let key = handle.application.map { "app|" + $0 }
            ?? handle.deploymentName + "|" + handle.replicaIDs.map { "\($0.raw)" }.joined(separator: ",")
        if let known = sets.withLock({ $0[key] }) { return known }
        let config = DeploymentConfig(maxOngoingRequests: handle.config.maxOngoingRequests, maxQueuedRequests: handle.config.maxQueuedRequests)
        let name = handle.deploymentName
        var refresh: ReplicaSet.Refresh?
        if let application = handle.application { refresh = { try? await published(application) } }
        let replicas = ReplicaSet(deployment: name, config: config, initial: try resolve(handle), refresh: refresh) {
            throw ServeError("a handle outside the driver cannot replace \(name)'s replicas")
        }
        let (stored, isNew) = sets.withLock { sets in
            if let raced = sets[key] { return (raced, false) }
            sets[key] = replicas
            return (replicas, true)
        }
        if isNew, refresh != nil { Task { await stored.followPublished(every: refreshInterval) } }
        return stored
    }

    /// The replicas of `handle`, callable from this process.
    private static func resolve(_ handle: DeploymentHandle) throws -> [Application.Replica] {
        let found = _typeByName(handle.typeName)
        if let type = found as? any Deployment.Type {
            return try handle.replicaIDs.map { try replica(type, $0) }
        } else if let type = found as? any StreamingDeployment.Type {
            return try handle.replicaIDs.map { try streaming(type, $0) }
        }
        throw ServeError("no deployment type \(handle.typeName) in this binary")
    }

    /// The replicas application `name` has now, as its controller published them.
    private static func published(_ name: String) async throws -> [Application.Replica]? {
        guard let bytes = try await ray.kv.get(key(application: name), namespace: ServeDeployConfig.namespace) else { return nil }
        return try resolve(try JSONDecoder().decode(DeploymentHandle.self, from: Data(bytes)))
    }

    private static func streaming<D: StreamingDeployment>(_ type: D.Type, _ id: RayActorID) throws -> Application.Replica {
        let open = D.streamCall(try D.resolve(id: id, using: .shared))
        return Application.Replica(call: { try await D.gather(open($0)) }, id: id, stream: open)
    }

    private static func replica<D: Deployment>(_ type: D.Type, _ id: RayActorID) throws -> Application.Replica {
        let actor = try D.resolve(id: id, using: .shared)
        return Application.Replica(call: D.caller(of: actor), id: id, submit: D.submitter(of: actor))
    }
}
