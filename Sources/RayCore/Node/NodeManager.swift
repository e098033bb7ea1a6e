import Logging
import NIOCore
import NIOPosix
import RayWire

/// The node manager: the worker pool, the local scheduler and the object table of one node.
///
/// All state lives on one event loop, like Ray's raylet: worker channels are served on it, and calls
/// from the driver hop onto it. Nothing here blocks.
public final class NodeManager: @unchecked Sendable {
    let loop: any EventLoop
    let config: NodeConfig
    let logger = RayLog.logger

    /// The cluster's machines; the first is this one.
    var nodes: [NodeRecord]
    /// The pool of the embedded driver's own executable.
    let defaultPool: WorkerPool
    var objects = ObjectTable()
    /// Finished objects for lock-protected reads from the driver's threads.
    let ready = ReadyObjects()
    /// Shared objects with copies on other nodes, by object (absent: only this node's store has it).
    var copies: [ObjectID: ObjectCopies] = [:]
    /// Copies being made, with who waits for each.
    var pulls: [PullKey: PendingPull] = [:]
    /// The tasks that computed results held only on other nodes, to run again if those nodes die;
    /// each keeps its arguments alive (lineage pinning).
    var lineage: [ObjectID: TaskRecord] = [:]
    /// Copies objects from other nodes into this node's store (set by the cluster server).
    var objectPuller: ObjectPuller?
    /// The port of this node's object server (set by the cluster server).
    var objectServerPort: Int?
    /// Freed shared-memory files kept for reuse, oldest first.
    var recycledFiles: [String] = []
    /// Shared objects in the order they were stored: the spilling order.
    var sharedOrder = CircularBuffer<ObjectID>()
    static let maxRecycledFiles = 4
    /// Workers' output files, when the node keeps them.
    lazy var workerLogs: WorkerLogs? = config.logsFolder.map { WorkerLogs(folder: $0) }
    /// Whether the store's full marker is set (see `updateFullMarker`).
    var storeMarkedFull = false
    var tasks: [TaskID: TaskRecord] = [:]
    /// Ready tasks by scheduling class (equal demand and pool), each class in submission order.
    var queues: [SchedulingClass: CircularBuffer<TaskID>] = [:]
    var workers: [Int: WorkerHandle] = [:]
    var actors: [RayID: ActorRecord] = [:]
    var namedActors: [ActorNameKey: RayID] = [:]
    /// Placement groups by id, and those waiting for their bundles, in creation order.
    var placementGroups: [RayID: PlacementGroupRecord] = [:]
    var pendingPlacementGroups: [RayID] = []
    /// The cluster's key-value store, by namespace and key.
    var keyValues: [String: [String: [UInt8]]] = [:]
    /// The last finished tasks and actor calls, oldest first, for the state API and the timeline.
    var finishedTasks = CircularBuffer<FinishedTask>()
    static let finishedTasksKept = 10_000
    /// Jobs (drivers) by their connection's worker id; the embedded driver is 0.
    var jobs: [Int: JobState] = [:]
    /// Rotates `spread` placements among equally loaded nodes.
    var spreadTurn = 0
    /// Requests refused because no node could ever fit them, by resource shape (for status).
    var infeasibleDemands: [String: Int] = [:]
    /// Actors waiting for resources, in creation order.
    var pendingActors: [RayID] = []
    /// Workers that may take a task (checked again when taken).
    var idleWorkers: [Int] = []
    var startingWorkers = 0
    var startFailures = 0
    var nextWorkerID = 1
    var shuttingDown = false
    var flushScheduled = false
    var scheduleScheduled = false
    /// Starts a worker on a remote node (set by the cluster server); nil when it cannot.
    var remoteWorkerStarter: ((_ id: Int, _ pool: WorkerPool, _ node: NodeRecord, _ actorID: RayID?) -> WorkerHandle?)?
    /// Kills a worker on a remote node (set by the cluster server).
    var remoteWorkerKiller: ((WorkerHandle) -> Void)?
    /// Control messages from connected peers (set by the cluster server).
    var controlHandler: ((ControlMessage, WorkerHandle) -> Void)?
    /// Also receives every line workers print, prefixed (set by the cluster server for drivers).
    var outputSink: ((_ line: String, _ isError: Bool, _ worker: WorkerHandle) -> Void)?
    /// Completed when shutdown has reaped every worker.
    var shutdownPromise: EventLoopPromise<Void>?

    public init(config: NodeConfig, loop: any EventLoop) {
        self.config = config
        self.loop = loop
        nodes = [NodeRecord(id: config.nodeID, total: config.resources, isLocal: true)]
        defaultPool = WorkerPool(executable: config.workerExecutable)
    }

    /// Starts the prestarted workers.
    public func start() {
        loop.execute { [self] in
            for _ in 0..<config.prestartWorkers { startWorker(pool: defaultPool, on: localNode) }
        }
        let interval = TimeAmount(config.idleWorkerTimeout)
        loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] task in
            if shuttingDown { return task.cancel() }
            stopIdleWorkers()
        }
    }

    /// Stops task workers idle longer than the timeout, keeping `prestartWorkers` of them.
    func stopIdleWorkers() {
        let pooled = workers.values.filter { $0.usable }
        let timeout = TimeAmount(config.idleWorkerTimeout)
        let idle = pooled.filter { $0.isIdle && NIODeadline.now() - $0.idleSince >= timeout }
        let excess = min(idle.count, pooled.count - config.prestartWorkers)
        guard excess > 0 else { return }
        for worker in idle.sorted(by: { $0.idleSince < $1.idleSince }).prefix(excess) {
            logger.debug("stopping idle worker pid \(worker.pid)")
            worker.retiring = true
            send(.shutdown, to: worker)
        }
    }

    /// Stops every worker and waits until all are reaped (killing those that do not exit in time).
    public func shutdown() -> EventLoopFuture<Void> {
        loop.flatSubmit { self.shutdownOnLoop() }
    }

    // MARK: Batching

    /// Flushes every worker channel written to in this tick, once.
    func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute { [self] in
            flushScheduled = false
            for worker in workers.values { worker.flush() }
        }
    }

    /// Runs the scheduler once at the end of this tick, however many events asked for it.
    func requestSchedule() {
        guard !scheduleScheduled else { return }
        scheduleScheduled = true
        loop.execute { [self] in
            scheduleScheduled = false
            schedule()
        }
    }

    /// Prints a worker's output line here, prefixed `(name pid=N)`, and hands it to the sink.
    func emitOutput(_ line: String, isError: Bool, from worker: WorkerHandle) {
        let text = "(\(worker.currentName) pid=\(worker.pid)) \(line)\n"
        workerLogs?.append(text, pid: worker.pid)
        if config.logToDriver {
            var bytes = Array(text.utf8)
            _ = write(isError ? 2 : 1, &bytes, bytes.count)
        }
        outputSink?(text, isError, worker)
    }
}

/// What the node's object table holds.
public struct ObjectStoreStats: Sendable, Equatable {
    /// Objects tracked (finished or pending).
    public var objects: Int
    /// Bytes of finished values.
    public var bytes: Int
    /// Objects, and their bytes, in the shared-memory store (one copy per node).
    public var sharedObjects: Int
    public var sharedBytes: Int
    /// Objects, and their bytes, spilled from the store to disk.
    public var spilledObjects: Int
    public var spilledBytes: Int
    /// Bytes the store holds in memory before it spills.
    public var capacity: Int
    /// Finished objects kept alive by pending tasks, calls or containing objects, and their bytes.
    public var pinnedObjects: Int = 0
    public var pinnedBytes: Int = 0
    /// Shared objects held only in other nodes' stores (pulled here on demand), and their bytes.
    public var remoteObjects: Int = 0
    public var remoteBytes: Int = 0

    /// Bytes of the store's memory in use (`sharedBytes`).
    public var used: Int { sharedBytes }
}
