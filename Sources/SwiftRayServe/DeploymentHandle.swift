import Synchronization
import SwiftRay

/// Calls a deployment from Swift (Ray's `DeploymentHandle`). In the driver it goes through the
/// same replicas, limits and queue as HTTP requests; passed to another deployment's constructor
/// (it is `Codable`) it carries the replicas' actors, and that process routes to them itself
/// (power of two choices over its own ongoing counts), which is how deployments compose:
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
    /// The driver's replica set (nil in a process that decoded the handle).
    private let local: ReplicaSet?

    init(_ replicas: ReplicaSet, typeName: String) async {
        deploymentName = await replicas.deployment
        self.typeName = typeName
        replicaIDs = await replicas.actorIDs
        config = DeploymentConfig.Limits(await replicas.config)
        local = replicas
    }

    enum CodingKeys: String, CodingKey { case deploymentName, typeName, replicaIDs, config }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        deploymentName = try container.decode(String.self, forKey: .deploymentName)
        typeName = try container.decode(String.self, forKey: .typeName)
        replicaIDs = try container.decode([RayActorID].self, forKey: .replicaIDs)
        config = try container.decode(DeploymentConfig.Limits.self, forKey: .config)
        local = nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deploymentName, forKey: .deploymentName)
        try container.encode(typeName, forKey: .typeName)
        try container.encode(replicaIDs, forKey: .replicaIDs)
        try container.encode(config, forKey: .config)
    }

    /// Sends `request` to a replica and returns its answer.
    public func call(_ request: ServeRequest) async throws -> ServeResponse {
        if let local { return try await local.handle(request) }
        return try await RemoteReplicas.set(for: self).handle(request)
    }

    /// A `StreamingDeployment`'s chunks for `request`, handed over as its replica yields them (Ray's
    /// `handle.options(stream=True)`); the replica's slot is held until the stream ends or the
    /// sequence is dropped.
    public func stream(_ request: ServeRequest) -> AsyncThrowingStream<ServeChunk, any Error> {
        let puller = ChunkPuller { [local, self] in try await (local ?? RemoteReplicas.set(for: self)).openStream(request) }
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

    static func set(for handle: DeploymentHandle) throws -> ReplicaSet {
        let key = handle.deploymentName + "|" + handle.replicaIDs.map { "\($0.raw)" }.joined(separator: ",")
        if let known = sets.withLock({ $0[key] }) { return known }
        let found = _typeByName(handle.typeName)
        let replicasMade: [Application.Replica]
        if let type = found as? any Deployment.Type {
            replicasMade = try handle.replicaIDs.map { Application.Replica(call: try call(type, $0), id: $0) }
        } else if let type = found as? any StreamingDeployment.Type {
            replicasMade = try handle.replicaIDs.map { try streaming(type, $0) }
        } else {
            throw ServeError("no deployment type \(handle.typeName) in this binary")
        }
        let config = DeploymentConfig(maxOngoingRequests: handle.config.maxOngoingRequests, maxQueuedRequests: handle.config.maxQueuedRequests)
        let name = handle.deploymentName
        let replicas = ReplicaSet(deployment: name, config: config, initial: replicasMade) {
            throw ServeError("a handle outside the driver cannot replace \(name)'s replicas")
        }
        return sets.withLock { sets in
            if let raced = sets[key] { return raced }
            sets[key] = replicas
            return replicas
        }
    }

    private static func streaming<D: StreamingDeployment>(_ type: D.Type, _ id: RayActorID) throws -> Application.Replica {
        let open = D.streamCall(try D.resolve(id: id, using: .shared))
        return Application.Replica(call: { try await D.gather(open($0)) }, id: id, stream: open)
    }

    private static func call<D: Deployment>(_ type: D.Type, _ id: RayActorID) throws -> Application.ReplicaCall {
        let replica = try D.resolve(id: id, using: .shared)
        return { request in try await replica.handle(request) }
    }
}
