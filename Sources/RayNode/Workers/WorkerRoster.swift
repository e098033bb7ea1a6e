import NIOCore

/// The node manager's workers: every connected or starting process by id, which of them may take a
/// task now, how many are still starting, and how many starts failed in a row.
///
/// Idle workers are taken most recent first, so a burst reuses warm processes and the ones idle
/// longest are left to time out. The idle list may hold stale ids (a worker given work another way,
/// or gone); every read skips them.
package struct WorkerRoster {
    private var byID: [Int: WorkerHandle] = [:]
    private var idle: [Int] = []
    private var lastID = 0
    /// Workers started and not yet registered.
    private(set) var starting = 0
    /// Starts that failed since a worker last registered, and starting workers SIGKILLed meanwhile.
    private(set) var startFailures = 0
    private var killedStarts = 0

    package init() {}

    /// Every worker, drivers included.
    package var all: Dictionary<Int, WorkerHandle>.Values { byID.values }
    package var isEmpty: Bool { byID.isEmpty }
    package subscript(id: Int) -> WorkerHandle? { byID[id] }

    /// An id no worker of this node had before.
    package mutating func newID() -> Int {
        lastID += 1
        return lastID
    }

    /// Ids up to `id` are taken (by workers that outlived a previous head).
    package mutating func reserveIDs(through id: Int) { lastID = Swift.max(lastID, id) }

    /// Adds a started worker (counted as starting until it registers) or a driver (registered).
    package mutating func add(_ worker: WorkerHandle) {
        byID[worker.id] = worker
        if !worker.registered { starting += 1 }
    }

    /// The worker said hello: it is no longer starting, and starts work again.
    mutating func registered(_ worker: WorkerHandle) {
        guard !worker.registered else { return }
        worker.registered = true
        starting -= 1
        startFailures = 0
        killedStarts = 0
    }

    /// Counts a failed start; returns the failures in a row and whether no worker ever registered.
    /// A worker SIGKILLed while starting (the OOM killer, an operator, a chaos test) says little
    /// about whether workers can start: ten such count as one failure.
    mutating func startFailed(killed: Bool = false) -> (inARow: Int, noneRegistered: Bool) {
        if killed { killedStarts += 1 } else { startFailures += 1 }
        return (startFailures + killedStarts / 10, byID.values.allSatisfy { !$0.registered })
    }

    /// Forgets a worker that exited.
    mutating func remove(_ worker: WorkerHandle) {
        guard byID.removeValue(forKey: worker.id) != nil else { return }
        if !worker.registered { starting -= 1 }
    }

    /// Offers the worker for tasks if it has none.
    mutating func markIdleIfFree(_ worker: WorkerHandle) {
        if worker.isIdle { idle.append(worker.id) }
    }

    /// Whether an idle worker of `pool` waits on `node`.
    func hasIdle(_ pool: WorkerPool, on node: NodeRecord) -> Bool {
        idle.contains { id in byID[id].map { $0.isIdle && $0.pool == pool && $0.node === node } ?? false }
    }

    /// Takes the most recently idle worker of `pool` on the node of the first target that has one.
    mutating func takeIdle(_ pool: WorkerPool, for targets: [LeaseTarget]) -> (WorkerHandle, LeaseTarget)? {
        idle.removeAll { id in !(byID[id]?.isIdle ?? false) }
        for target in targets {
            guard let slot = idle.lastIndex(where: { byID[$0]!.pool == pool && byID[$0]!.node === target.node }) else { continue }
            return (byID[idle.remove(at: slot)]!, target)
        }
        return nil
    }

    /// Task workers of `pool` starting on `node`.
    func startingCount(_ pool: WorkerPool, on node: NodeRecord) -> Int {
        byID.values.filter { !$0.registered && !$0.dead && $0.actorID == nil && $0.pool == pool && $0.node === node }.count
    }

    /// Task workers idle for at least `timeout` at `now`, longest idle first, beyond the `keep`
    /// pooled workers the node keeps warm.
    func idleTooLong(now: NIODeadline, timeout: TimeAmount, keep: Int) -> [WorkerHandle] {
        let pooled = byID.values.filter(\.usable)
        let idle = pooled.filter { $0.isIdle && now - $0.idleSince >= timeout }
        let excess = min(idle.count, pooled.count - keep)
        guard excess > 0 else { return [] }
        return Array(idle.sorted { $0.idleSince < $1.idleSince }.prefix(excess))
    }
}
