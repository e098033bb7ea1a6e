import Foundation
import SwiftRay

/// A deployment's replicas and the requests on them: each request goes to the less busy of two
/// replicas picked at random among those under `maxOngoingRequests` (power of two choices, as
/// Ray's router); when all are at the limit it waits in a bounded queue, and beyond that it is
/// refused (`ServeOverloaded`).
actor ReplicaSet {
    struct Replica {
        let id: Int
        let call: Application.ReplicaCall
        /// Its actor (nil: unknown).
        let actorID: RayActorID?
        var ongoing = 0
    }

    let deployment: String
    let config: DeploymentConfig
    /// Makes a replica (to replace one that died).
    private let make: @Sendable () async throws -> Application.Replica
    private var replicas: [Replica] = []
    private(set) var replaced = 0
    /// Requests waiting for a replica, oldest first (at most `maxQueuedRequests`).
    private var waiting: [CheckedContinuation<Int, any Error>] = []
    private(set) var served = 0
    private(set) var failed = 0

    /// - Parameter initial: replicas it starts with (a decoded handle's).
    init(
        deployment: String, config: DeploymentConfig, initial: [Application.Replica] = [],
        make: @escaping @Sendable () async throws -> Application.Replica
    ) {
        self.deployment = deployment
        self.config = config
        self.make = make
        replicas = initial.enumerated().map { Replica(id: $0.offset, call: $0.element.call, actorID: $0.element.id) }
    }

    var replicaCount: Int { replicas.count }
    var ongoing: Int { replicas.reduce(0) { $0 + $1.ongoing } }
    var queued: Int { waiting.count }

    /// The replicas' actors.
    var actorIDs: [RayActorID] { replicas.compactMap(\.actorID) }

    func add(_ replica: Application.Replica) { add(replica.call, actorID: replica.id) }

    func add(_ call: @escaping Application.ReplicaCall, actorID: RayActorID?) {
        replicas.append(Replica(id: (replicas.map(\.id).max() ?? -1) + 1, call: call, actorID: actorID))
        while !waiting.isEmpty, let index = pick() {
            replicas[index].ongoing += 1
            waiting.removeFirst().resume(returning: replicas[index].id)
        }
    }

    /// Sends `request` to a replica, waiting for room when all are busy. A request whose replica
    /// died is sent to another once (the dead one is replaced).
    func handle(_ request: ServeRequest) async throws -> ServeResponse {
        do {
            return try await attempt(request)
        } catch is ActorDiedError {
            return try await attempt(request)
        }
    }

    private func attempt(_ request: ServeRequest) async throws -> ServeResponse {
        let id = try await acquire()
        guard let call = replicas.first(where: { $0.id == id })?.call else { return try await attempt(request) }
        defer { release(id) }
        do {
            let response = try await call(request)
            served += 1
            return response
        } catch let died as ActorDiedError {
            replace(id)
            throw died
        } catch {
            failed += 1
            throw error
        }
    }

    /// Drops replica `id` (its actor died) and starts a replacement.
    private func replace(_ id: Int) {
        guard let index = replicas.firstIndex(where: { $0.id == id }) else { return }
        replicas.remove(at: index)
        replaced += 1
        Task {
            do {
                self.add(try await self.make())
            } catch {
                FileHandle.standardError.write(Data("serve: cannot replace a replica of \(self.deployment): \(error)\n".utf8))
            }
        }
    }

    private func acquire() async throws -> Int {
        if let index = pick() {
            replicas[index].ongoing += 1
            return replicas[index].id
        }
        guard waiting.count < config.maxQueuedRequests else { throw ServeOverloaded(deployment: deployment) }
        return try await withCheckedThrowingContinuation { waiting.append($0) }
    }

    /// A finished request's slot goes to the first waiting one, on the same replica.
    private func release(_ id: Int) {
        guard let index = replicas.firstIndex(where: { $0.id == id }) else { return }
        if !waiting.isEmpty {
            waiting.removeFirst().resume(returning: id)
        } else {
            replicas[index].ongoing -= 1
        }
    }

    /// The less busy of two random replicas with room (Ray's power of two choices).
    private func pick() -> Int? {
        let open = replicas.indices.filter { replicas[$0].ongoing < config.maxOngoingRequests }
        guard let first = open.randomElement() else { return nil }
        guard open.count > 1, let second = open.filter({ $0 != first }).randomElement() else { return first }
        return replicas[second].ongoing < replicas[first].ongoing ? second : first
    }

    /// Ends the waiting requests (the application is going away).
    func close() {
        for next in waiting { next.resume(throwing: ServeError("\(deployment) was deleted")) }
        waiting = []
    }
}
