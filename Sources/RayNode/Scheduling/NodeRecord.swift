import NIOCore
import RayWire

/// One machine of the cluster as the scheduler sees it: its resources and whether its workers share
/// this node manager's memory. Confined to the node manager's event loop.
package final class NodeRecord {
    package let id: String
    /// Resources the node declared.
    package let total: ResourceSet
    /// What running tasks and live actors leave free.
    package var available: ResourceSet
    /// The memory monitor killed a worker here that has not exited yet: the next kill waits for
    /// the memory it frees.
    var memoryKillPending = false
    /// False once the node left or stopped heartbeating: nothing is placed on it any more.
    package var alive = true
    /// Workers of this node whose connections closed and whose exits its daemon has not reported
    /// yet. While any are unconfirmed the node may be dying with them, so nothing new is placed
    /// there: a node's death then costs each of its tasks one retry, not one per worker it had.
    package var unconfirmedDeaths: Set<Int> = []
    /// Set when the node's object server could not be reached: the node may be dying, so nothing new
    /// goes there until its daemon has been heard from twice since (a heartbeat already in flight
    /// when it died proves nothing).
    package var unreachable: (since: NIODeadline, heard: Int)?
    /// Being drained (the autoscaler is about to remove it): nothing new is placed on it.
    package var draining = false
    /// Alive, not draining and not suspected of dying: new work may go here.
    var schedulable: Bool { alive && !draining && unconfirmedDeaths.isEmpty && unreachable == nil }

    /// The daemon was heard from: enough of that after an unreachable object server clears it.
    /// Returns whether the node became schedulable again.
    package func heard(at now: NIODeadline) -> Bool {
        guard var suspicion = unreachable else { return false }
        suspicion.heard += 1
        guard suspicion.heard >= 2, now - suspicion.since >= .milliseconds(250) else {
            unreachable = suspicion
            return false
        }
        unreachable = nil
        return schedulable
    }
    /// The node manager's own machine: its workers map this node manager's shared-memory store and
    /// are children of this process.
    package let isLocal: Bool
    /// The connection to a remote node's daemon, which starts and stops its workers.
    package var daemon: (any Channel)?
    /// When the daemon was last heard from.
    package var lastHeard = NIODeadline.now()
    /// The node's address as the head sees it (for status).
    package var address: String
    /// Where the node's object server listens (a remote node with a shared-memory store); its workers
    /// then read large objects from their own node's store, pulled there on demand.
    package var objectServer: (host: String, port: Int)?

    /// A rejoining node whose report of what its store kept has not arrived: its workers cannot
    /// re-attach their actors yet (the refs they hold are counted against the adopted objects).
    package var awaitingStoredObjects = false

    /// Whether its workers map a shared-memory store (this machine's, or their own node's).
    var hasStore: Bool { isLocal || objectServer != nil }

    package init(id: String, total: ResourceSet, isLocal: Bool, address: String = "local") {
        self.id = id
        self.total = total
        self.available = total
        self.isLocal = isLocal
        self.address = address
    }
}

/// The binary a worker runs: every job's workers run its driver's executable. Tasks and actors only
/// go to workers of their own pool.
package struct WorkerPool: Hashable, Sendable {
    /// The executable's path on the node manager's machine.
    package let executable: String
    /// Its content hash, by which other nodes fetch and cache it ("" for an embedded cluster's).
    package let binaryHash: String
    /// Environment variables its workers run with (a runtime environment's `envVars`): work with
    /// different ones never shares a process.
    package let environment: [String: String]

    package init(executable: String, binaryHash: String = "", environment: [String: String] = [:]) {
        self.executable = executable
        self.binaryHash = binaryHash
        self.environment = environment
    }

    /// This pool's binary with `variables` added to its environment (themselves when there are none).
    package func adding(_ variables: [String: String]) -> WorkerPool {
        guard !variables.isEmpty else { return self }
        return WorkerPool(executable: executable, binaryHash: binaryHash, environment: environment.merging(variables) { $1 })
    }
}

/// Tasks with equal demands for the same pool queue together, in submission order.
struct SchedulingClass: Hashable {
    let demand: ResourceSet
    let pool: WorkerPool
    let strategy: SchedulingStrategy
}
