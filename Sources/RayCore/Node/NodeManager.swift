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

    var available: ResourceSet
    var objects = ObjectTable()
    var tasks: [TaskID: TaskRecord] = [:]
    /// Ready tasks by scheduling class (equal demand), each class in submission order.
    var queues: [ResourceSet: CircularBuffer<TaskID>] = [:]
    var workers: [Int: WorkerHandle] = [:]
    var actors: [RayID: ActorRecord] = [:]
    var namedActors: [ActorNameKey: RayID] = [:]
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
    /// Called with a worker's pid and exit status when it has been reaped.
    var shutdownPromise: EventLoopPromise<Void>?
    var onWorkerReaped: (@Sendable (Int32, Int32) -> Void)?

    public init(config: NodeConfig, loop: any EventLoop) {
        self.config = config
        self.loop = loop
        self.available = config.resources
    }

    /// Starts the prestarted workers.
    public func start() {
        loop.execute { [self] in
            for _ in 0..<config.prestartWorkers { startWorker() }
        }
    }

    // MARK: Entry points (any thread)

    /// Submits a task.
    public func submit(_ spec: TaskSpec) {
        loop.execute { self.submitOnLoop(spec, holder: nil) }
    }

    /// Fetches objects; `reply` gets nil when `timeoutMillis` (>= 0) passes first.
    public func get(_ ids: [ObjectID], timeoutMillis: Int64, caller: TaskID, reply: @escaping @Sendable ([ObjectPayload]?) -> Void) {
        loop.execute { self.getOnLoop(ids, timeoutMillis: timeoutMillis, caller: caller, reply: reply) }
    }

    /// Reports the ready subset of `ids` once `numReturns` are ready or the timeout passes.
    public func wait(
        _ ids: [ObjectID], numReturns: Int, timeoutMillis: Int64, caller: TaskID,
        reply: @escaping @Sendable ([ObjectID]) -> Void
    ) {
        loop.execute { self.waitOnLoop(ids, numReturns: numReturns, timeoutMillis: timeoutMillis, caller: caller, reply: reply) }
    }

    /// Stores an object.
    public func put(_ id: ObjectID, _ payload: ObjectPayload) {
        loop.execute { self.putOnLoop(id, payload, holder: nil) }
    }

    /// The driver took references to these objects (it decoded them).
    public func addRefs(_ ids: [ObjectID]) {
        loop.execute { self.addRefsOnLoop(ids, holder: nil) }
    }

    /// The driver dropped references to these objects.
    public func releaseRefs(_ ids: [ObjectID]) {
        loop.execute { self.releaseRefsOnLoop(ids, holder: nil) }
    }

    /// Objects and bytes this node holds now.
    public func stats() -> EventLoopFuture<ObjectStoreStats> {
        loop.submit { ObjectStoreStats(objects: self.objects.count, bytes: self.objects.bytes) }
    }

    /// Cancels a task: a queued one never runs, a running one is cancelled (or its worker killed
    /// with `force`), and with `recursive` the tasks it submitted too.
    public func cancel(_ id: TaskID, force: Bool, recursive: Bool) {
        loop.execute { self.cancelOnLoop(id, force: force, recursive: recursive) }
    }

    /// Registers and places an actor; `reply` gets nil or why it was refused.
    public func createActor(_ spec: ActorSpec, reply: @escaping @Sendable (ErrorInfo?) -> Void) {
        loop.execute { self.createActorOnLoop(spec, creator: nil, reply: reply) }
    }

    /// Calls an actor method; the result goes to the object named by the call.
    public func callActor(_ call: ActorCall) {
        loop.execute { self.actorCallOnLoop(call, holder: nil) }
    }

    /// Kills an actor's process; it restarts (if it may) unless `noRestart`.
    public func killActor(_ id: RayID, noRestart: Bool) {
        loop.execute { self.killActorOnLoop(id, noRestart: noRestart) }
    }

    /// The spec of the live actor with this name, or nil.
    public func lookupActor(name: String, namespace: String, reply: @escaping @Sendable (ActorSpec?) -> Void) {
        loop.execute { reply(self.lookupActorOnLoop(name: name, namespace: namespace)) }
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

    func send(_ message: WireMessage, to worker: WorkerHandle) {
        worker.send(message)
        scheduleFlush()
    }
}

/// What the node's object table holds.
public struct ObjectStoreStats: Sendable, Equatable {
    /// Objects tracked (finished or pending).
    public var objects: Int
    /// Bytes of finished values.
    public var bytes: Int
}
