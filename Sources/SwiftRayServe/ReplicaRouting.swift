import SwiftRay

/// Which replica takes each request: the less busy of two picked at random among those under
/// `maxOngoingRequests` (power of two choices, as Ray's router); when all are at the limit the
/// request waits in a bounded queue, and beyond that it is refused. Also the replicas leaving
/// (finishing their requests) and the request counts. `ReplicaSet` keeps it behind a lock, so the
/// proxy's event loops take and give back slots without a hop onto the set's actor.
struct ReplicaRouting {
    struct Replica {
        let id: Int
        let call: Application.ReplicaCall
        /// Its actor (nil: unknown).
        let actorID: RayActorID?
        /// Its hooks (nil: another process's replica, seen through a handle).
        let control: ReplicaControl?
        /// How to open its stream (a `StreamingDeployment`).
        let stream: Application.StreamCall?
        /// How to send a request without waiting.
        let submit: Application.SubmitCall?
        var ongoing = 0
    }

    /// A request's turn in the queue: resumed with its replica's id, or the error.
    typealias Waiter = CheckedContinuation<Int, any Error>

    private(set) var replicas: [Replica] = []
    /// Replicas out of the rotation, finishing their requests before they are killed.
    private(set) var leaving: [Replica] = []
    /// Requests waiting for a replica, oldest first (at most `maxQueued`).
    private(set) var waiting: [Waiter] = []
    var stats = DeploymentStats()
    private var nextID = 0
    var maxOngoing: Int
    var maxQueued: Int

    init(maxOngoing: Int, maxQueued: Int) {
        self.maxOngoing = maxOngoing
        self.maxQueued = maxQueued
    }

    var ongoing: Int { replicas.reduce(0) { $0 + $1.ongoing } }

    func replica(_ id: Int) -> Replica? { replicas.first { $0.id == id } }

    /// Puts `replica` in the rotation; returns the waiting requests it (or room anywhere) now
    /// takes, to be resumed outside the lock.
    mutating func insert(_ replica: Application.Replica, control: ReplicaControl?) -> [(Waiter, Int)] {
        replicas.append(Replica(
            id: nextID, call: replica.call, actorID: replica.id, control: control, stream: replica.stream, submit: replica.submit))
        nextID += 1
        var admitted: [(Waiter, Int)] = []
        while !waiting.isEmpty, let id = take() { admitted.append((waiting.removeFirst(), id)) }
        return admitted
    }

    /// A slot on a replica with room, taken (nil: all are at the limit).
    mutating func take() -> Int? {
        let open = replicas.indices.filter { replicas[$0].ongoing < maxOngoing }
        guard var index = open.randomElement() else { return nil }
        if open.count > 1, let second = open.filter({ $0 != index }).randomElement(), replicas[second].ongoing < replicas[index].ongoing {
            index = second
        }
        replicas[index].ongoing += 1
        return replicas[index].id
    }

    /// A slot taken at once, or `waiter` queued (nil), or refused when the queue is full.
    mutating func acquire(or waiter: Waiter, deployment: String) -> Result<Int, any Error>? {
        if let id = take() { return .success(id) }
        guard waiting.count < maxQueued else {
            stats.refused += 1
            return .failure(ServeOverloaded(deployment: deployment))
        }
        waiting.append(waiter)
        return nil
    }

    /// A finished request's slot: handed to the first waiting request (returned, to resume with
    /// `id`), else freed; `drained` when it was a leaving replica's last request.
    mutating func release(_ id: Int) -> (next: Waiter?, drained: Bool) {
        if let index = replicas.firstIndex(where: { $0.id == id }) {
            if !waiting.isEmpty { return (waiting.removeFirst(), false) }
            replicas[index].ongoing -= 1
        } else if let index = leaving.firstIndex(where: { $0.id == id }) {
            leaving[index].ongoing -= 1
            return (nil, leaving[index].ongoing == 0)
        }
        return (nil, false)
    }

    /// Takes replica `id` out of everything (its actor died); nil when it is not in the rotation.
    mutating func remove(_ id: Int) -> Replica? {
        guard let index = replicas.firstIndex(where: { $0.id == id }) else { return nil }
        return replicas.remove(at: index)
    }

    /// Moves `ids` from the rotation to the leaving; returns those with no request on them.
    mutating func retire(_ ids: Set<Int>) -> Set<Int> {
        leaving += replicas.filter { ids.contains($0.id) }
        replicas.removeAll { ids.contains($0.id) }
        return Set(leaving.filter { $0.ongoing == 0 }.map(\.id))
    }

    /// Drops the leaving replicas among `ids`; returns them (to be killed) and whether none is left.
    mutating func dropLeaving(_ ids: Set<Int>) -> (dropped: [Replica], noneLeft: Bool) {
        let dropped = leaving.filter { ids.contains($0.id) }
        leaving.removeAll { ids.contains($0.id) }
        return (dropped, leaving.isEmpty)
    }

    /// The `count` least busy replicas.
    func leastBusy(_ count: Int) -> Set<Int> {
        Set(replicas.sorted { $0.ongoing < $1.ongoing }.prefix(count).map(\.id))
    }

    /// Every waiting request, taken out of the queue (to be failed).
    mutating func takeWaiting() -> [Waiter] {
        defer { waiting = [] }
        return waiting
    }
}
