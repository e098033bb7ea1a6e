import Logging
import NIOCore
import NIOPosix
import RayPlatform
import RayWire

/// The node manager: the worker pool, the local scheduler and the object table of one node.
///
/// All state lives on one event loop, like Ray's raylet: worker channels are served on it, and calls
/// from the driver hop onto it. Nothing here blocks.
package final class NodeManager: @unchecked Sendable {
    package let loop: any EventLoop
    package let config: NodeConfig
    package let logger = RayLog.logger

    /// The cluster's machines; the first is this one.
    package var nodes: [NodeRecord]
    /// The pool of the embedded driver's own executable.
    let defaultPool: WorkerPool
    var objects = ObjectTable()
    /// Finished objects for lock-protected reads from the driver's threads.
    package let ready = ReadyObjects()
    /// Which nodes hold copies of shared objects, and the copies being made.
    var locations = ObjectLocations()
    /// The tasks that computed results held only on other nodes, to run again if those nodes die;
    /// each keeps its arguments alive (lineage pinning).
    var lineage: [ObjectID: TaskRecord] = [:]
    /// The refs inside objects kept in other nodes' stores, written through and restored.
    var keptContained = KeptContainedRefs()
    /// When this manager started: a restarted head's recovery window runs from here.
    let startedAt = NIODeadline.now()
    /// Worker nodes a previous head recorded that have not rejoined and reported their stores.
    var awaitedNodes: Set<String> = []
    /// Workers the rejoining nodes reported alive that have not re-attached or exited.
    var awaitedWorkers: Set<Int> = []
    /// Tasks re-attached by workers that outlived the previous head, until their drivers resume.
    var survivors = SurvivingTasks()
    /// Set when work that outlived the previous head took its lease from a node because its
    /// placement group was not reserved yet (see `StrayLease`); cleared once none is left.
    var mayHaveStrayLeases = false
    /// What workers that outlived the previous head printed before they re-attached, by worker
    /// (see `holdEarlyOutput`), and how many lines that is.
    var earlyOutput: [Int: [(text: String, isError: Bool)]] = [:]
    var earlyOutputLines = 0
    /// What waits for the recovery window to end (see `afterRecoveryWindow`).
    var recoveryWaiters: [@Sendable () -> Void] = []
    /// Copies objects from other nodes into this node's store (set by the cluster server).
    package var objectPuller: (any ObjectPulling)?
    /// The port of this node's object server (set by the cluster server).
    package var objectServerPort: Int?
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
    var queues = TaskQueues()
    /// Every worker and driver, which are idle and which are starting.
    package var workers = WorkerRoster()
    /// Actors by id and by name, and those waiting for resources.
    var actors = ActorDirectory()
    /// Placement groups by id, and those waiting for their bundles.
    var placementGroups = PlacementGroups()
    /// Streaming tasks and calls in flight: their items and consumers.
    var streams = StreamTable()
    /// The cluster's key-value store, by namespace and key.
    var keyValues = KeyValueTable()
    /// Told of every change of the key-value store, on the loop, with what to call once it is
    /// stored (the head writes them through).
    package var keyValueChanged: ((KVRequest, _ stored: @escaping @Sendable () -> Void) -> Void)?
    /// Told, on the loop, when a detached actor is created or restarted (with its pool) and when it
    /// dies for good, with what to call once that is stored (the head writes them through).
    package var detachedActorChanged: ((DetachedActorChange, _ stored: @escaping @Sendable () -> Void) -> Void)?
    /// Told, on the loop, when a detached placement group is created (its spec) and removed (its
    /// id), with what to call once that is stored.
    package var detachedGroupChanged: ((_ created: PlacementGroupSpec?, _ removed: RayID?, _ stored: @escaping @Sendable () -> Void) -> Void)?
    /// Told, on the loop, of the refs a result kept in another node's store contains, and when it
    /// is freed or reset (nil), with what to call once that is stored: the head writes them through.
    package var containedRefsChanged: ((ObjectID, [ObjectID]?, _ stored: @escaping @Sendable () -> Void) -> Void)?
    /// The last finished tasks and actor calls, oldest first, for the state API and the timeline.
    var finishedTasks = CircularBuffer<FinishedTask>()
    static let finishedTasksKept = 10_000
    /// Jobs (drivers) by their connection's worker id; the embedded driver is 0.
    package var jobs: [Int: JobState] = [:]
    /// What the autoscaler can add (its node types' resources): a shape one of them holds waits for
    /// a node instead of failing as infeasible.
    package var autoscalingNodeTypes: [ResourceSet] = []
    /// Jobs submitted to the head (Ray's job API), by submission id: listed after the drivers.
    package var submittedJobs: [String: JobState] = [:]
    /// Rotates `spread` placements among equally loaded nodes.
    var spreadTurn = 0
    /// Requests refused because no node could ever fit them, by resource shape (for status).
    package var infeasibleDemands: [String: Int] = [:]
    /// Actors waiting for resources.
    package var pendingActorCount: Int { actors.pending.count }
    package var shuttingDown = false
    var flushScheduled = false
    var scheduleScheduled = false
    /// Starts a worker on a remote node (set by the cluster server); nil when it cannot.
    package var remoteWorkerStarter: ((_ id: Int, _ pool: WorkerPool, _ node: NodeRecord, _ actorID: RayID?) -> WorkerHandle?)?
    /// Kills a worker on a remote node (set by the cluster server).
    package var remoteWorkerKiller: ((WorkerHandle) -> Void)?
    /// Asks the cluster's nodes for a job binary this head lacks (by content hash): a restored
    /// actor needs it. The answer comes through `binaryArrived`.
    package var binaryWanted: ((String) -> Void)?
    /// Job binaries restored actors wait for.
    package var missingBinaries: Set<String> = []
    /// Also receives every line workers print, prefixed (set by the cluster server for drivers).
    package var outputSink: ((_ line: String, _ isError: Bool, _ worker: WorkerHandle) -> Void)?
    /// Completed when shutdown has reaped every worker.
    var shutdownPromise: EventLoopPromise<Void>?

    /// Starts, kills and reaps this machine's worker processes.
    let processes: any WorkerProcesses

    /// A node manager on `loop`; `processes` runs its workers (real processes unless a test gives
    /// in-process stand-ins).
    package init(config: NodeConfig, loop: any EventLoop, processes: any WorkerProcesses = ProcessWorkers()) {
        self.config = config
        self.loop = loop
        self.processes = processes
        nodes = [NodeRecord(id: config.nodeID, total: config.resources, isLocal: true)]
        defaultPool = WorkerPool(executable: config.workerExecutable)
    }

    /// Starts the prestarted workers.
    package func start() {
        loop.execute { [self] in
            for _ in 0..<config.prestartWorkers { startWorker(pool: defaultPool, on: localNode) }
        }
        let interval = TimeAmount(config.idleWorkerTimeout)
        loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] task in
            if shuttingDown { return task.cancel() }
            stopIdleWorkers()
        }
        if let every = config.memoryMonitorInterval.map(TimeAmount.init) {
            loop.scheduleRepeatedTask(initialDelay: every, delay: every) { [self] task in
                if shuttingDown { return task.cancel() }
                if let usage = MemoryUsage.current() { memoryUsed(usage, on: localNode) }
            }
        }
    }

    /// Stops task workers idle longer than the timeout, keeping `prestartWorkers` of them.
    func stopIdleWorkers() {
        let timeout = TimeAmount(config.idleWorkerTimeout)
        for worker in workers.idleTooLong(now: loop.now, timeout: timeout, keep: config.prestartWorkers) {
            logger.debug("stopping idle worker pid \(worker.pid)")
            worker.retiring = true
            send(.shutdown, to: worker)
        }
    }

    /// What the node's object table holds now.
    package func objectStoreStats() -> ObjectStoreStats {
        objects.stats(capacity: config.objectDirectory?.capacity ?? 0)
    }

    /// Tasks waiting for a worker or resources.
    package var pendingTaskCount: Int { queues.count }

    /// Cancels every task a driver (a connected worker id) submitted, with the tasks they started.
    package func cancelTasks(ownedBy ownerID: Int) {
        for record in tasks.values where record.ownerID == ownerID {
            cancelOnLoop(record.id, force: true, recursive: true)
        }
    }

    /// Stops every worker and waits until all are reaped (killing those that do not exit in time).
    package func shutdown() -> EventLoopFuture<Void> {
        loop.flatSubmit { self.shutdownOnLoop() }
    }

    // MARK: Batching

    /// Flushes every worker channel written to in this tick, once.
    func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute { [self] in
            flushScheduled = false
            for worker in workers.all { worker.flush() }
        }
    }

    /// Runs the scheduler once at the end of this tick, however many events asked for it.
    package func requestSchedule() {
        guard !scheduleScheduled else { return }
        scheduleScheduled = true
        loop.execute { [self] in
            scheduleScheduled = false
            schedule()
        }
    }

    /// Prints a worker's output line here, prefixed `(name pid=N)`, and hands it to the sink.
    package func emitOutput(_ line: String, isError: Bool, from worker: WorkerHandle) {
        let text = "(\(worker.currentName) pid=\(worker.pid)) \(line)\n"
        workerLogs?.append(text, pid: worker.pid)
        if config.logToDriver {
            var bytes = Array(text.utf8)
            _ = write(isError ? 2 : 1, &bytes, bytes.count)
        }
        outputSink?(text, isError, worker)
    }
}
