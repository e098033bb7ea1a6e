import SwiftRay

/// Typed calls of any method through a handle (Ray's `handle.method_name.remote(args)`): the
/// replica is picked as for requests (power of two choices under `maxOngoingRequests`, the same
/// queue and 503), and its slot is held while the call runs.
///
/// ```swift
/// let score = try await handle.call(Model.self) { try await $0.score(features) }   // awaited
/// let ref = try await handle.remote(Model.self) { $0.remote.score(features) }      // a ref to pass on
/// let total = try await other.call(Summer.self) { try await $0.add(ref) }          // resolved there
/// ```
extension DeploymentHandle {
    /// Runs `body` on a replica's actor and returns its result.
    /// - Throws: `ServeError` when the deployment is not a `D`; what `body` throws.
    public func call<D: RayActor, T: Sendable>(_ type: D.Type, _ body: @escaping @Sendable (D) async throws -> T) async throws -> T {
        try await replicaSet().withReplica { try await body(try resolve(D.self, $0)) }
    }

    /// Submits `body`'s `.remote` call on a replica and returns its ref at once (Ray's
    /// `DeploymentResponse`): pass it to tasks, actors or other handles' calls, which receive the
    /// value. The replica's slot is held until the result is ready.
    public func remote<D: RayActor, T>(_ type: D.Type, _ body: @escaping @Sendable (D) -> ObjectRef<T>) async throws -> ObjectRef<T> {
        try await replicaSet().holdingReplica { actorID in
            let ref = body(try resolve(D.self, actorID))
            return (ref, { _ = try? await ray.wait([ref]) })
        }
    }

    private func resolve<D: RayActor>(_ type: D.Type, _ id: RayActorID) throws -> D {
        guard typeName == _mangledTypeName(D.self) else { throw ServeError("\(deploymentName) is not a \(D.self)") }
        return try D.resolve(id: id, using: .shared)
    }
}

extension ReplicaSet {
    /// Runs `body` with a replica's actor, holding its slot meanwhile; when that replica turns out
    /// dead it is replaced and `body` runs once more on another (as requests are).
    func withReplica<T: Sendable>(_ body: @Sendable (RayActorID) async throws -> T) async throws -> T {
        do {
            return try await onOneReplica(body)
        } catch is ActorDiedError {
            await refreshMembers()
            return try await onOneReplica(body)
        }
    }

    private func onOneReplica<T: Sendable>(_ body: @Sendable (RayActorID) async throws -> T) async throws -> T {
        let (slot, actorID) = try await acquireActor()
        defer { releaseSlot(slot) }
        do {
            return try await body(actorID)
        } catch let died as ActorDiedError {
            replaceDead(slot)
            throw died
        }
    }

    /// Runs `body` with a replica's actor; the slot is held until the `until` it returns ends.
    func holdingReplica<T: Sendable>(
        _ body: @Sendable (RayActorID) throws -> (T, until: @Sendable () async -> Void)
    ) async throws -> T {
        let (slot, actorID) = try await acquireActor()
        do {
            let (value, until) = try body(actorID)
            Task {
                await until()
                self.releaseSlot(slot)
            }
            return value
        } catch {
            releaseSlot(slot)
            throw error
        }
    }
}
