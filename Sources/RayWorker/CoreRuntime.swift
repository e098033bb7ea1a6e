import RayObjectStore
import RayWire
import Synchronization

/// What the package API needs from the process it runs in. The driver's implementation talks to the
/// node manager it embeds; a worker's talks to its node manager over the worker channel.
package protocol CoreRuntime: AnyObject, Sendable {
    /// The node this process runs on.
    var nodeID: String { get }
    /// The node's shared-memory object store, where large objects are written (nil: inline only).
    var objectDirectory: SharedObjectDirectory? { get }
    /// Mints an identifier unique in the cluster.
    func newID() -> RayID
    /// Submits a task; returns at once.
    func submit(_ spec: TaskSpec)
    /// Fetches objects, waiting for them; nil when `timeout` passes first.
    func get(_ ids: [ObjectID], timeout: Duration?) async throws -> [ObjectPayload]?
    /// Calls `body` with the object's payload once it is ready (nil: it cannot be had), on a
    /// thread of the runtime's own: `body` must not block.
    func whenReady(_ id: ObjectID, _ body: @escaping @Sendable (ObjectPayload?) -> Void)
    /// Returns the positions of ready objects in `ids` (ascending) once `numReturns` are ready or
    /// `timeout` passes.
    func wait(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) async throws -> [Int]
    /// Stores an object.
    func put(_ id: ObjectID, _ payload: ObjectPayload)
    /// Cancels a task.
    func cancel(_ id: TaskID, force: Bool, recursive: Bool)
    /// This process took references to these objects (decoded refs), or dropped them.
    func addRefs(_ ids: [ObjectID])
    func releaseRefs(_ ids: [ObjectID])
    /// One reference taken or dropped (the common case: one `ObjectRef` decoded or gone).
    func addRef(_ id: ObjectID)
    func releaseRef(_ id: ObjectID)
    /// One reference taken to an object this process made (counted at the node when it was made).
    func tookCreatedRef(_ id: ObjectID)
    /// Why this process cannot reach its cluster now (its head is gone), if so: calls that would
    /// only queue for a head that is not there fail with it at once.
    var connectionLost: (any Error)? { get }
    /// Registers an actor and starts it; returns nil, or why it was refused.
    func createActor(_ spec: ActorSpec) async throws -> ErrorInfo?
    /// Calls an actor method; returns at once, the result goes to `call.callID`.
    func callActor(_ call: ActorCall)
    /// Kills an actor's process (restarting it unless `noRestart`).
    func killActor(_ id: RayID, noRestart: Bool)
    /// The live actor with this name, or nil.
    func lookupActor(name: String, namespace: String) async throws -> ActorSpec?
    /// An operation on the cluster's key-value store.
    func kv(_ request: KVRequest) async throws -> KVReply
    /// A snapshot of the cluster for the state API.
    func clusterState() async throws -> ClusterState
    /// The nodes only (cheap: no tasks, actors or objects are gathered).
    func nodeStates() async throws -> [NodeState]
    /// Creates, waits for or removes a placement group; returns nil, or why it failed.
    func placementGroup(_ request: PlacementGroupRequest) async throws -> ErrorInfo?
    /// Reports item `index` of the stream this process produces (`stream`: the running task's or
    /// call's id), stored as object `item`. Returns once the consumer's backlog is under
    /// `backpressure`; false when the consumer is gone and the producer should stop.
    func yieldItem(stream: RayID, index: Int, item: ObjectID, _ payload: ObjectPayload, backpressure: Int?) async -> Bool
    /// The next items of a stream this process consumes, having taken the first `from`; waits
    /// until there are some or the stream has ended.
    func nextItems(stream: RayID, from: Int) async throws -> StreamItems
    /// This process stops consuming a stream after wrapping its first `received` items.
    func dropStream(_ stream: RayID, received: Int)
}

extension CoreRuntime {
    package func addRef(_ id: ObjectID) { addRefs([id]) }
    package func releaseRef(_ id: ObjectID) { releaseRefs([id]) }
    package func tookCreatedRef(_ id: ObjectID) {}
    package var connectionLost: (any Error)? { nil }

    /// A detached task waiting on `get` (a worker's gets go through its channel; detached, so a
    /// task running here is not counted as blocked on it).
    package func whenReady(_ id: ObjectID, _ body: @escaping @Sendable (ObjectPayload?) -> Void) {
        Task.detached { body(try? await self.get([id], timeout: nil)?.first) }
    }
}

/// A task's or call's result, and what must stay alive until it is sent: local references to the
/// objects the result contains, so their release cannot overtake the result.
package struct ExecutionResult: Sendable {
    package var payload: ObjectPayload
    /// The results after the first, for a task with several.
    package var extraPayloads: [ObjectPayload]
    package var keepAlive: (any Sendable)?

    package init(_ payload: ObjectPayload, extraPayloads: [ObjectPayload] = [], keepAlive: (any Sendable)? = nil) {
        self.payload = payload
        self.extraPayloads = extraPayloads
        self.keepAlive = keepAlive
    }

    /// The message that reports it as task `id`'s outcome.
    package func message(for id: TaskID) -> WireMessage {
        extraPayloads.isEmpty ? .taskDone(id, payload) : .taskReturns(id, [payload] + extraPayloads)
    }
}

/// The results of an actor call returning several: their objects, and the payloads after the
/// first, left here by the method's generated code for the worker to send.
package final class CallReturns: Sendable {
    package let ids: [ObjectID]
    private let rest = Mutex<[ObjectPayload]>([])

    package init(ids: [ObjectID]) { self.ids = ids }

    package var extraPayloads: [ObjectPayload] {
        get { rest.withLock { $0 } }
        set { rest.withLock { $0 = newValue } }
    }
}

/// What a worker process runs; provided by the package API layer, which knows how to find remote
/// functions and actor types by name.
package protocol WorkerExecutor: Sendable {
    /// Runs one task and returns its result.
    func runTask(_ spec: TaskSpec) async -> ExecutionResult
    /// Constructs the actor this worker hosts; returns nil, or the error its constructor threw.
    func hostActor(_ spec: ActorSpec) async -> ErrorInfo?
    /// Queues a call on the hosted actor (in arrival order) and reports its result when done.
    func actorCall(_ call: ActorCall, completion: @escaping @Sendable (ExecutionResult) -> Void)
    /// Cancels a running call of the hosted actor, if it runs concurrently with others.
    func cancelActorCall(_ id: RayID)
}

/// Facts about the task running in the current Swift task, set by the worker that runs it.
public struct TaskContext: Sendable {
    /// The running task.
    public var taskID: TaskID
    /// Its user-visible name.
    public var name: String
    /// 0 on the first run, one more per retry.
    public var attempt: Int
    /// The resources it was given (Ray's `get_assigned_resources()`): a task's demand, or the
    /// resources its actor holds.
    public var resources: [String: Double]
    /// Set when the running task or call produces a stream of items.
    package var streaming: StreamingReturns?
    /// Set for an actor call with several results: where they go.
    package var returns: CallReturns?

    package init(taskID: TaskID, name: String, attempt: Int, resources: [String: Double] = [:], streaming: StreamingReturns? = nil) {
        self.taskID = taskID
        self.name = name
        self.attempt = attempt
        self.resources = resources
        self.streaming = streaming
    }

    /// The current task's context, or nil in the driver.
    @TaskLocal public static var current: TaskContext?
}
