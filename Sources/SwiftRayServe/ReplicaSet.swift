import Foundation
import Synchronization
import SwiftRay

/// A deployment's replicas and the requests on them: routing (`ReplicaRouting`, behind a lock the
/// proxy's event loops share), and the replicas' lives: replacing the dead, autoscaling, health
/// checks, rolling updates, graceful retirement.
actor ReplicaSet {
    typealias Make = @Sendable () async throws -> Application.Replica
    /// The replicas its application has now (a decoded handle's set asks its controller's
    /// publication); nil when unknown.
    typealias Refresh = @Sendable () async -> [Application.Replica]?

    private(set) var deployment: String
    private(set) var config: DeploymentConfig
    /// Makes a replica (to replace one that died, to scale up).
    private var make: Make
    private let refresh: Refresh?
    /// The rotation, the queue, the leaving and the counts.
    nonisolated let routing: Mutex<ReplicaRouting>
    private(set) var replaced = 0
    /// Replicas being made (replacements and autoscaling).
    private var starting = 0
    private var autoscaler: Task<Void, Never>?
    private var healthChecker: Task<Void, Never>?
    /// Since when the autoscaler has wanted more (or fewer) replicas than there are.
    private var wantedMoreSince: ContinuousClock.Instant?
    private var wantedFewerSince: ContinuousClock.Instant?
    /// `close()` callers waiting for the leaving replicas to finish.
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    /// Set while a redeploy makes its replicas, and the last replica start that failed.
    private var rolling = false
    private var startError: String?

    /// - Parameter initial: replicas it starts with (a decoded handle's).
    init(
        deployment: String, config: DeploymentConfig, initial: [Application.Replica] = [], refresh: Refresh? = nil, make: @escaping Make
    ) {
        self.refresh = refresh
        self.deployment = deployment
        self.config = config
        self.make = make
        var routing = ReplicaRouting(maxOngoing: config.maxOngoingRequests, maxQueued: config.maxQueuedRequests)
        for replica in initial { _ = routing.insert(replica, control: nil) }
        self.routing = Mutex(routing)
    }

    var replicaCount: Int { routing.withLock { $0.replicas.count } }
    var ongoing: Int { routing.withLock { $0.ongoing } }
    var queued: Int { routing.withLock { $0.waiting.count } }
    var served: Int { routing.withLock { $0.stats.served } }
    var failed: Int { routing.withLock { $0.stats.failed } }

    /// The replica count it aims at now.
    private var target: Int {
        config.autoscaling == nil ? config.numReplicas : replicaCount + starting
    }

    /// The deployment as the dashboard shows it.
    func status() -> ServeDeploymentStatus {
        let (running, ongoing, queued, stats) = routing.withLock { ($0.replicas.count, $0.ongoing, $0.waiting.count, $0.stats) }
        let target = target
        let health = startError != nil && running == 0 && target > 0 ? "UNHEALTHY"
            : rolling || starting > 0 || running < target ? "UPDATING" : "HEALTHY"
        let percentiles = stats.percentiles([0.5, 0.99])
        return ServeDeploymentStatus(
            name: deployment, status: health, targetReplicas: target, runningReplicas: running, ongoingRequests: ongoing,
            queuedRequests: queued, served: stats.served, failed: stats.failed, refused: stats.refused, replaced: replaced,
            latencyBucketsMs: DeploymentStats.bucketsMs, latencyCounts: stats.counts, latencySumMs: stats.sumMs,
            p50Ms: percentiles[0], p99Ms: percentiles[1])
    }

    /// The replicas' actors.
    var actorIDs: [RayActorID] { routing.withLock { $0.replicas.compactMap(\.actorID) } }

    func add(_ replica: Application.Replica) {
        for (waiter, id) in routing.withLock({ $0.insert(replica, control: replica.control) }) { waiter.resume(returning: id) }
    }

    /// Makes `count` replicas at once and puts them in the rotation.
    /// - Throws: the first replica's failure (the others made are killed).
    func fill(_ count: Int) async throws {
        for replica in try await makeReady(count, make: make, userConfig: config.userConfig) { add(replica) }
    }
    /// A replica made and given the user config; one whose `reconfigure` throws is killed.
    private func makeReady(_ count: Int, make: @escaping Make, userConfig: UserConfig?) async throws -> [Application.Replica] {
        try await withThrowingTaskGroup(of: Application.Replica.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let made = try await make()
                    if let userConfig, let reconfigure = made.control?.reconfigure {
                        do { try await reconfigure(userConfig) } catch {
                            made.control?.kill()
                            throw error
                        }
                    }
                    return made
                }
            }
            var made: [Application.Replica] = []
            do {
                for try await replica in group { made.append(replica) }
            } catch {
                group.cancelAll()
                while let late = try? await group.next() { made.append(late) }
                for replica in made { replica.control?.kill() }
                throw error
            }
            return made
        }
    }

    /// Replaces every replica with ones `make` makes (a redeploy): the new ones start, then take
    /// the requests, then the old ones finish theirs and go. A request is never without replicas.
    func roll(to config: DeploymentConfig, deployment: String, make: @escaping Make) async throws {
        rolling = true
        defer { rolling = false }
        let fresh = try await makeReady(config.initialReplicas, make: make, userConfig: config.userConfig)
        let old = routing.withLock { routing in
            routing.maxOngoing = config.maxOngoingRequests
            routing.maxQueued = config.maxQueuedRequests
            return routing.replicas.map(\.id)
        }
        self.config = config
        self.deployment = deployment
        self.make = make
        stopBackgroundWork()  // restarted under the new config
        for replica in fresh { add(replica) }
        retire(Set(old))
    }

    /// Gives every replica `userConfig` without restarting it (Ray's lightweight update); replicas
    /// made from now on get it too.
    /// - Throws: a replica's `reconfigure` error (replicas already given it keep it).
    func reconfigure(_ userConfig: UserConfig?) async throws {
        config.userConfig = userConfig
        guard let userConfig else { return }
        let hooks = routing.withLock { $0.replicas.compactMap { $0.control?.reconfigure } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for reconfigure in hooks { group.addTask { try await reconfigure(userConfig) } }
            try await group.waitForAll()
        }
    }

    /// Changes the replica count of a deployment without autoscaling (Ray's lightweight
    /// `num_replicas` update): more are started, or the least busy leave after their requests.
    func scale(to count: Int) {
        config.numReplicas = max(count, 1)
        let running = replicaCount
        if running + starting < config.numReplicas {
            startReplicas(config.numReplicas - running - starting)
        } else if running > config.numReplicas {
            let wanted = config.numReplicas
            retire(routing.withLock { $0.leastBusy(running - wanted) })
        }
    }

    /// Sends `request` to a replica, waiting for room when all are busy. A request whose replica
    /// died is sent to another once (the dead one is replaced).
    func handle(_ request: ServeRequest) async throws -> ServeResponse {
        do {
            return try await attempt(request)
        } catch is ActorDiedError {
            await refreshMembers()  // a handle's replica may have been redeployed away
            return try await attempt(request)
        }
    }

    /// Follows the application's published replicas every `interval`, for as long as it lives.
    func followPublished(every interval: Duration) async {
        while (try? await Task.sleep(for: interval)) != nil { await refreshMembers() }
    }

    /// Takes the application's published replicas: new ones join, missing ones leave (their
    /// requests finish; another process's replicas are not killed from here).
    func refreshMembers() async {
        guard let refresh, let current = await refresh() else { return }
        let known = routing.withLock { Set($0.replicas.compactMap(\.actorID)) }
        let wanted = Set(current.map(\.id))
        guard known != wanted else { return }
        retire(routing.withLock { Set($0.replicas.filter { $0.actorID.map { !wanted.contains($0) } ?? true }.map(\.id)) })
        for replica in current where !known.contains(replica.id) { add(replica) }
    }

    private func attempt(_ request: ServeRequest) async throws -> ServeResponse {
        let id = try await acquire()
        guard let call = routing.withLock({ $0.replica(id)?.call }) else { return try await attempt(request) }
        let start = ContinuousClock.now
        do {
            let response = try await call(request)
            finished(id, latency: .now - start, failed: false)
            return response
        } catch let died as ActorDiedError {
            replace(id)  // its slot leaves the rotation with it, never handed to a waiting request
            throw died
        } catch {
            finished(id, latency: .now - start, failed: true)
            throw error
        }
    }

    /// A slot on a replica that can take a request at once without waiting, with how to send it
    /// there (nil: none has room, a request is already queued, or the replica can only be
    /// awaited): the proxy's path without a Swift task. Give it back with `finished`.
    nonisolated func takeSlot() -> (slot: Int, submit: Application.SubmitCall)? {
        routing.withLock { routing in
            guard routing.waiting.isEmpty, let id = routing.take() else { return nil }
            guard let submit = routing.replica(id)?.submit else {
                _ = routing.release(id)
                return nil
            }
            return (id, submit)
        }
    }

    /// A request on `slot` ended: counted, and its slot given back.
    nonisolated func finished(_ slot: Int, latency: Duration, failed: Bool) {
        routing.withLock { routing in
            if failed { routing.stats.failed += 1 } else { routing.stats.served += 1 }
            routing.stats.record(latency)
        }
        release(slot)
    }

    /// Opens a stream on a replica picked as for `handle`; the replica's slot is held until the
    /// lease ends (the stream is read to its end, fails, or is dropped).
    func openStream(_ request: ServeRequest) async throws -> StreamLease {
        let id = try await acquire()
        guard let open = routing.withLock({ $0.replica(id)?.stream }) else {
            release(id)
            throw ServeError("\(deployment) does not stream")
        }
        let start = ContinuousClock.now
        return StreamLease(generator: open(request)) { [weak self] failed in
            self?.finished(id, latency: .now - start, failed: failed)
        }
    }

    /// Drops replica `id` (its actor died or failed its health check), kills it and starts a
    /// replacement.
    private func replace(_ id: Int) {
        guard let dead = routing.withLock({ $0.remove(id) }) else { return }
        dead.control?.kill()
        replaced += 1
        startReplicas(1)
    }

    private func startReplicas(_ count: Int) {
        starting += count
        let make = make
        let userConfig = config.userConfig
        for _ in 0..<count {
            Task {
                do {
                    self.started(try await self.makeReady(1, make: make, userConfig: userConfig)[0])
                } catch {
                    self.startFailed(error)
                }
            }
        }
    }

    private func started(_ replica: Application.Replica) {
        starting -= 1
        startError = nil
        add(replica)
    }

    private func startFailed(_ error: any Error) {
        starting -= 1
        startError = "\(error)"
        FileHandle.standardError.write(Data("serve: cannot start a replica of \(deployment): \(error)\n".utf8))
    }

    /// Starts following the load (with `autoscaling`) and checking health (a
    /// `HealthCheckedDeployment`); the tasks hold the set weakly and end with it.
    func startBackgroundWork() {
        if let policy = config.autoscaling, autoscaler == nil {
            autoscaler = Task { [weak self] in
                while (try? await Task.sleep(for: policy.metricsInterval)) != nil {
                    guard let self else { return }
                    await self.autoscale(policy)
                }
            }
        }
        if healthChecker == nil, routing.withLock({ $0.replicas.contains { $0.control?.checkHealth != nil } }) {
            let period = config.healthCheckPeriod
            healthChecker = Task { [weak self] in
                while (try? await Task.sleep(for: period)) != nil {
                    guard let self else { return }
                    await self.checkHealth()
                }
            }
        }
    }

    private func stopBackgroundWork() {
        autoscaler?.cancel()
        healthChecker?.cancel()
        autoscaler = nil
        healthChecker = nil
    }

    /// Checks every replica at once; those failing or too slow are replaced.
    private func checkHealth() async {
        let checks = routing.withLock { $0.replicas.compactMap { replica in replica.control?.checkHealth.map { (replica.id, $0) } } }
        let timeout = config.healthCheckTimeout
        let failing = await withTaskGroup(of: Int?.self) { group in
            for (id, check) in checks {
                group.addTask { (try? await withDeadline(timeout, check)) == nil ? id : nil }
            }
            var failing: [Int] = []
            for await id in group { if let id { failing.append(id) } }
            return failing
        }
        for id in failing {
            FileHandle.standardError.write(Data("serve: a replica of \(deployment) failed its health check; replacing it\n".utf8))
            replace(id)
        }
    }

    private func autoscale(_ policy: AutoscalingConfig) {
        let now = ContinuousClock.now
        let (running, load, queued) = routing.withLock { ($0.replicas.count, $0.ongoing + $0.waiting.count, $0.waiting.count) }
        let current = running + starting
        let wanted = policy.wanted(load: load)
        if current == 0, queued > 0 {  // scaled to zero: the first request waits for one replica
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
            retire(routing.withLock { $0.leastBusy(current - wanted) })
            wantedFewerSince = nil
        }
    }

    /// Takes replicas out of the rotation: each is killed once its requests finish, or after
    /// `gracefulShutdownTimeout`.
    private func retire(_ ids: Set<Int>) {
        guard !ids.isEmpty else { return }
        let drained = routing.withLock { $0.retire(ids) }
        let timeout = config.gracefulShutdownTimeout
        Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.killLeaving(ids)
        }
        killLeaving(drained)
    }

    /// Kills the leaving replicas among `ids` (drained, or out of time).
    private func killLeaving(_ ids: Set<Int>) {
        let (dropped, noneLeft) = routing.withLock { $0.dropLeaving(ids) }
        for replica in dropped { replica.control?.kill() }
        if noneLeft {
            for waiter in drainWaiters { waiter.resume() }
            drainWaiters = []
        }
    }

    /// A slot on a replica whose actor is known, for typed calls through a handle.
    func acquireActor() async throws -> (slot: Int, actor: RayActorID) {
        let id = try await acquire()
        guard let actor = routing.withLock({ $0.replica(id)?.actorID }) else {
            release(id)
            throw ServeError("\(deployment) has no replica to call")
        }
        return (id, actor)
    }

    func releaseSlot(_ id: Int) { release(id) }

    /// Replica `id` was found dead by a typed call (or the proxy's direct path): replaced as for
    /// requests.
    func replaceDead(_ id: Int) { replace(id) }

    /// A slot, taken at once or after waiting in the queue; `ServeOverloaded` when the queue is full.
    private func acquire() async throws -> Int {
        let deployment = deployment
        return try await withCheckedThrowingContinuation { waiter in
            if let now = routing.withLock({ $0.acquire(or: waiter, deployment: deployment) }) { waiter.resume(with: now) }
        }
    }

    /// A finished request's slot goes to the first waiting one, on the same replica; a leaving
    /// replica with no more requests is killed.
    nonisolated private func release(_ id: Int) {
        let (next, drained) = routing.withLock { $0.release(id) }
        next?.resume(returning: id)
        if drained { Task { await self.killLeaving([id]) } }
    }

    /// The application is going away: waiting requests fail, background work stops, and every
    /// replica leaves gracefully; returns once all are gone.
    func close() async {
        stopBackgroundWork()
        for next in routing.withLock({ $0.takeWaiting() }) { next.resume(throwing: ServeError("\(deployment) was deleted")) }
        retire(routing.withLock { Set($0.replicas.map(\.id)) })
        guard !routing.withLock({ $0.leaving.isEmpty }) else { return }
        await withCheckedContinuation { drainWaiters.append($0) }
    }
}

/// A stream opened on a replica: its chunks, and the replica's slot, given back once (when the
/// stream ends or the lease is dropped).
final class StreamLease: Sendable {
    let generator: ObjectRefGenerator<ServeChunk>
    private let ended: Mutex<(@Sendable (Bool) -> Void)?>

    init(generator: ObjectRefGenerator<ServeChunk>, ended: @escaping @Sendable (_ failed: Bool) -> Void) {
        self.generator = generator
        self.ended = Mutex(ended)
    }

    /// Gives the slot back (the first call counts).
    func end(failed: Bool) {
        ended.withLock { callback in defer { callback = nil }; return callback }?(failed)
    }

    deinit { end(failed: true) }
}

/// `operation`'s result, or `DeadlineExceeded` once `timeout` passed (the operation itself runs
/// on to its end: a remote call cannot be taken back).
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    Task {
        do {
            race.finish(.success(try await operation()))
        } catch {
            race.finish(.failure(error))
        }
    }
    let timer = Task {
        guard (try? await Task.sleep(for: timeout)) != nil else { return }
        race.finish(.failure(DeadlineExceeded()))
    }
    defer { timer.cancel() }
    return try await race.value()
}

/// An operation given `withDeadline` did not end in time.
struct DeadlineExceeded: Error {}
