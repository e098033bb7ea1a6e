import RayWire

/// What the public API needs from the process it runs in. The driver's implementation talks to the
/// node manager it embeds; a worker's talks to its node manager over the worker channel.
public protocol CoreRuntime: AnyObject, Sendable {
    /// The node this process runs on.
    var nodeID: String { get }
    /// Mints an identifier unique in the cluster.
    func newID() -> RayID
    /// Submits a task; returns at once.
    func submit(_ spec: TaskSpec)
    /// Fetches objects, waiting for them; nil when `timeout` passes first.
    func get(_ ids: [ObjectID], timeout: Duration?) async throws -> [ObjectPayload]?
    /// Returns the ready subset of `ids` once `numReturns` are ready or `timeout` passes.
    func wait(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) async throws -> [ObjectID]
    /// Stores an object.
    func put(_ id: ObjectID, _ payload: ObjectPayload)
    /// Cancels a task.
    func cancel(_ id: TaskID, force: Bool, recursive: Bool)
}

/// Facts about the task running in the current Swift task, set by the worker that runs it.
public struct TaskContext: Sendable {
    /// The running task.
    public var taskID: TaskID
    /// Its user-visible name.
    public var name: String
    /// 0 on the first run, one more per retry.
    public var attempt: Int

    /// The current task's context, or nil in the driver.
    @TaskLocal public static var current: TaskContext?
}

extension Duration {
    /// Milliseconds, rounded up, for the wire; -1 means no timeout.
    static func wireMillis(_ duration: Duration?) -> Int64 {
        guard let duration else { return -1 }
        let (seconds, attoseconds) = duration.components
        if seconds < 0 { return 0 }
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
