import Foundation
import Synchronization
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
        /// Its hooks (nil: another process's replica, seen through a handle).
        let control: ReplicaControl?
        /// How to open its stream (a `StreamingDeployment`).
        let stream: Application.StreamCall?
        var ongoing = 0
    }

    typealias Make = @Sendable () async throws -> Application.Replica
    /// The replicas its application has now (a decoded handle's set asks its controller's
    /// publication); nil when unknown.
    typealias Refresh = @Sendable () async -> [Application.Replica]?

    private(set) var deployment: String
    private(set) var config: DeploymentConfig
    /// Makes a replica (to replace one that died, to scale up).
    private var make: Make
    private let refresh: Refresh?
    private var replicas: [Replica] = []
    /// Replicas out of the rotation, finishing their requests before they are killed.
    private var leaving: [Replica] = []
    private var nextID = 0
    private(set) var replaced = 0
    /// Replicas being made (replacements and autoscaling).
    private var starting = 0
    private var autoscaler: Task<Void, Never>?
    private var healthChecker: Task<Void, Never>?
    /// Since when the autoscaler has wanted more (or fewer) replicas than there are.
    private var wantedMoreSince: ContinuousClock.Instant?
    private var wantedFewerSince: ContinuousClock.Instant?
    /// Requests waiting for a replica, oldest first (at most `maxQueuedRequests`).
    private var waiting: [CheckedContinuation<Int, any Error>] = []
    /// `close()` callers waiting for the leaving replicas to finish.
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    private(set) var stats = DeploymentStats()
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
        replicas = initial.enumerated().map {
            Replica(id: $0.offset, call: $0.element.call, actorID: $0.element.id, control: nil, stream: $0.element.stream)
        }
        nextID = initial.count
    }

    var replicaCount: Int { replicas.count }
    var ongoing: Int { replicas.reduce(0) { $0 + $1.ongoing } }
    var queued: Int { waiting.count }
    var served: Int { stats.served }
    var failed: Int { stats.failed }

    /// The replica count it aims at now.
    private var target: Int {
        config.autoscaling == nil ? config.numReplicas : replicas.count + starting
    }

    /// The deployment as the dashboard shows it.
    func status() -> ServeDeploymentStatus {
        let health = startError != nil && replicas.isEmpty && target > 0 ? "UNHEALTHY"
            : rolling || starting > 0 || replicas.count < target ? "UPDATING" : "HEALTHY"
        let percentiles = stats.percentiles([0.5, 0.99])
        return ServeDeploymentStatus(
            name: deployment, status: health, targetReplicas: target, runningReplicas: replicas.count, ongoingRequests: ongoing,
            queuedRequests: waiting.count, served: stats.served, failed: stats.failed, refused: stats.refused, replaced: replaced,
            latencyBucketsMs: DeploymentStats.bucketsMs, latencyCounts: stats.counts, latencySumMs: stats.sumMs,
            p50Ms: percentiles[0], p99Ms: percentiles[1])
    }

    /// The replicas' actors.
    var actorIDs: [RayActorID] { replicas.compactMap(\.actorID) }

    private func insert(_ replica: Application.Replica) {
        replicas.append(Replica(id: nextID, call: replica.call, actorID: replica.id, control: replica.control, stream: replica.stream))
        nextID += 1
    }

    func add(_ replica: Application.Replica) {
        insert(replica)
        while !waiting.isEmpty, let index = pick() {
            replicas[index].ongoing += 1
            waiting.removeFirst().resume(returning: replicas[index].id)
        }
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
        let old = replicas.map(\.id)
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
        let hooks = replicas.compactMap { $0.control?.reconfigure }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for reconfigure in hooks { group.addTask { try await reconfigure(userConfig) } }
            try await group.waitForAll()
        }
    }

    /// Changes the replica count of a deployment without autoscaling (Ray's lightweight
    /// `num_replicas` update): more are started, or the least busy leave after their requests.
    func scale(to count: Int) {
        config.numReplicas = max(count, 1)
        let current = replicas.count + starting
        if current < config.numReplicas {
            startReplicas(config.numReplicas - current)
        } else if replicas.count > config.numReplicas {
            retire(Set(replicas.sorted { $0.ongoing < $1.ongoing }.prefix(replicas.count - config.numReplicas).map(\.id)))
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
        let known = Set(replicas.compactMap(\.actorID))
        let wanted = Set(current.map(\.id))
        guard known != wanted else { return }
        retire(Set(replicas.filter { $0.actorID.map { !wanted.contains($0) } ?? true }.map(\.id)))
        for replica in current where !known.contains(replica.id) { add(replica) }
    }

    private func attempt(_ request: ServeRequest) async throws -> ServeResponse {
        let id = try await acquire()
        guard let call = replicas.first(where: { $0.id == id })?.call else { return try await attempt(request) }
        defer { release(id) }
        let start = ContinuousClock.now
        do {
            let response = try await call(request)
            stats.served += 1
            stats.record(.now - start)
            return response
        } catch let died as ActorDiedError {
            replace(id)
            throw died
        } catch {
            stats.failed += 1
            stats.record(.now - start)
            throw error
        }
    }

    /// Opens a stream on a replica picked as for `handle`; the replica's slot is held until the
    /// lease ends (the stream is read to its end, fails, or is dropped).
    func openStream(_ request: ServeRequest) async throws -> StreamLease {
        let id = try await acquire()
        guard let open = replicas.first(where: { $0.id == id })?.stream else {
            release(id)
            throw ServeError("\(deployment) does not stream")
        }
        let start = ContinuousClock.now
        return StreamLease(generator: open(request)) { [weak self] failed in
            Task { await self?.streamEnded(id, failed: failed, latency: .now - start) }
        }
    }

    private func streamEnded(_ id: Int, failed: Bool, latency: Duration) {
        release(id)
        if failed { stats.failed += 1 } else { stats.served += 1 }
        stats.record(latency)
    }

    /// Drops replica `id` (its actor died or failed its health check), kills it and starts a
    /// replacement.
    private func replace(_ id: Int) {
        guard let index = replicas.firstIndex(where: { $0.id == id }) else { return }
        replicas.remove(at: index).control?.kill()
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
        if healthChecker == nil, replicas.contains(where: { $0.control?.checkHealth != nil }) {
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
        let checks = replicas.compactMap { replica in replica.control?.checkHealth.map { (replica.id, $0) } }
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
            retire(Set(replicas.sorted { $0.ongoing < $1.ongoing }.prefix(current - wanted).map(\.id)))
            wantedFewerSince = nil
        }
    }

    /// Takes replicas out of the rotation: each is killed once its requests finish, or after
    /// `gracefulShutdownTimeout`.
    private func retire(_ ids: Set<Int>) {
        guard !ids.isEmpty else { return }
        leaving += replicas.filter { ids.contains($0.id) }
        replicas.removeAll { ids.contains($0.id) }
        let timeout = config.gracefulShutdownTimeout
        Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.killLeaving(ids)
        }
        killLeaving(Set(leaving.filter { $0.ongoing == 0 }.map(\.id)))
    }

    /// Kills the leaving replicas among `ids` (drained, or out of time).
    private func killLeaving(_ ids: Set<Int>) {
        for replica in leaving where ids.contains(replica.id) { replica.control?.kill() }
        leaving.removeAll { ids.contains($0.id) }
        if leaving.isEmpty {
            for waiter in drainWaiters { waiter.resume() }
            drainWaiters = []
        }
    }

    /// A slot on a replica whose actor is known, for typed calls through a handle.
    func acquireActor() async throws -> (slot: Int, actor: RayActorID) {
        let id = try await acquire()
        guard let actor = replicas.first(where: { $0.id == id })?.actorID else {
            release(id)
            throw ServeError("\(deployment) has no replica to call")
        }
        return (id, actor)
    }

    func releaseSlot(_ id: Int) { release(id) }

    /// Replica `id` was found dead by a typed call: replaced as for requests.
    func replaceDead(_ id: Int) { replace(id) }

    private func acquire() async throws -> Int {
        if let index = pick() {
            replicas[index].ongoing += 1
            return replicas[index].id
        }
        guard waiting.count < config.maxQueuedRequests else {
            stats.refused += 1
            throw ServeOverloaded(deployment: deployment)
        }
        return try await withCheckedThrowingContinuation { waiting.append($0) }
    }

    /// A finished request's slot goes to the first waiting one, on the same replica; a leaving
    /// replica with no more requests is killed.
    private func release(_ id: Int) {
        if let index = replicas.firstIndex(where: { $0.id == id }) {
            if !waiting.isEmpty {
                waiting.removeFirst().resume(returning: id)
            } else {
                replicas[index].ongoing -= 1
            }
        } else if let index = leaving.firstIndex(where: { $0.id == id }) {
            leaving[index].ongoing -= 1
            if leaving[index].ongoing == 0 { killLeaving([id]) }
        }
    }

    /// The less busy of two random replicas with room (Ray's power of two choices).
    private func pick() -> Int? {
        let open = replicas.indices.filter { replicas[$0].ongoing < config.maxOngoingRequests }
        guard let first = open.randomElement() else { return nil }
        guard open.count > 1, let second = open.filter({ $0 != first }).randomElement() else { return first }
        return replicas[second].ongoing < replicas[first].ongoing ? second : first
    }

    /// The application is going away: waiting requests fail, background work stops, and every
    /// replica leaves gracefully; returns once all are gone.
    func close() async {
        stopBackgroundWork()
        for next in waiting { next.resume(throwing: ServeError("\(deployment) was deleted")) }
        waiting = []
        retire(Set(replicas.map(\.id)))
        guard !leaving.isEmpty else { return }
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
