import RayPlatform
import RayWire

/// The node manager's view of one submitted, unfinished task.
/// Confined to the node manager's event loop.
final class TaskRecord {
    enum State: Equatable {
        /// Some arguments are not ready yet.
        case waitingForArguments
        /// Ready, waiting for resources and a worker.
        case queued
        /// Sent to a worker.
        case running(workerID: Int)
    }

    var spec: TaskSpec
    var state: State = .waitingForArguments
    var missingArguments = 0
    /// Retries left after a crash (or a thrown error with `retryExceptions`); negative: unlimited.
    var retriesLeft: Int
    var cancelled = false
    /// Cancelled with its children: a child submitted after the cancel is cancelled on arrival.
    var cancelledRecursively = false
    /// Tasks this one submitted, for recursive cancellation.
    var children: [TaskID] = []
    /// Open `get`/`wait` calls; while positive the task lends its CPU back.
    var blockCount = 0

    /// The workers that can run it: those of its submitter's job.
    let pool: WorkerPool
    /// The process that submitted it (0: the embedded driver); a driver that leaves takes its tasks.
    let ownerID: Int

    /// Microseconds since the epoch: submitted, and last sent to a worker (which one, where).
    let submittedAt = wallMicros()
    var startedAt: Int64?
    var ranOn: (node: String, pid: Int32)?

    init(spec: TaskSpec, pool: WorkerPool, ownerID: Int = 0) {
        self.spec = spec
        self.pool = pool
        self.ownerID = ownerID
        retriesLeft = spec.maxRetries
    }

    package var id: TaskID { spec.taskID }

    /// The task's scheduling class: tasks with equal demands and pool queue together, in order.
    var schedulingClass: SchedulingClass { SchedulingClass(demand: spec.resources, pool: pool, strategy: spec.strategy) }
}
