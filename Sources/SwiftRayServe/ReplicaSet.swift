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
    /// Replicas being made (replacements and autoscaling).
    private var starting = 0
    private var autoscaler: Task<Void, Never>?
    /// Since when the autoscaler has wanted more (or fewer) replicas than there are.
    private var wantedMoreSince: ContinuousClock.Instant?
    private var wantedFewerSince: ContinuousClock.Instant?
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
        startReplicas(1)
    }

    private func startReplicas(_ count: Int) {
        starting += count
        for _ in 0..<count {
            Task {
                do {
                    let made = try await self.make()
                    self.started(made)
                } catch {
                    self.startFailed(error)
                }
            }
        }
    }

    private func started(_ replica: Application.Replica) {
        starting -= 1
        add(replica)
    }

    private func startFailed(_ error: any Error) {
        starting -= 1
        FileHandle.standardError.write(Data("serve: cannot start a replica of \(deployment): \(error)\n".utf8))
    }

    /// Follows the load every `metricsInterval` (the task holds the set weakly: it ends with it).
    func startAutoscaling() {
        guard let policy = config.autoscaling, autoscaler == nil else { return }
        autoscaler = Task { [weak self] in
            while (try? await Task.sleep(for: policy.metricsInterval)) != nil {
                guard let self else { return }
                await self.autoscale(policy)
            }
        }
    }

    /// The set is replaced: it keeps its replicas until its requests finish.
    func stopAutoscaling() {
        autoscaler?.cancel()
        autoscaler = nil
    }

    private func autoscale(_ policy: AutoscalingConfig) {
        let now = ContinuousClock.now
        let current = replicas.count + starting
        let wanted = policy.wanted(load: ongoing + waiting.count)
        if current == 0, !waiting.isEmpty {  // scaled to zero: the first request waits for one replica
            startReplicas(1)
            return
        }
        wantedMoreSince = wanted > current ? (wantedMoreSince ?? now) : nil
        wantedFewerSince = wanted < current ? (wantedFewerSince ?? now) : nil
        if let since = wantedMoreSince, now - since >= policy.upscaleDelay {
            startReplicas(wanted - current)
            wantedMoreSince = nil
        } else if let since = wantedFewerSince, now - since >= policy.downscaleDelay, starting == 0 {
            // The least busy go: no new requests reach them, those on them finish there.
            let leaving = Set(replicas.sorted { $0.ongoing < $1.ongoing }.prefix(current - wanted).map(\.id))
            replicas.removeAll { leaving.contains($0.id) }
            wantedFewerSince = nil
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

    /// Ends the waiting requests and the autoscaler (the application is going away).
    func close() {
        autoscaler?.cancel()
        for next in waiting { next.resume(throwing: ServeError("\(deployment) was deleted")) }
        waiting = []
    }
}
