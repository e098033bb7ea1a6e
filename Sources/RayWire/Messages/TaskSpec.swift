/// One argument of a task: an encoded value, or a reference the runtime resolves before the task runs.
public enum TaskArg: Sendable, Equatable {
    case value(EncodedValue)
    case ref(ObjectID)

    /// The objects this argument keeps alive: the ref itself, or the refs inside the value.
    public var heldRefs: [ObjectID] {
        switch self {
        case .value(let value): value.refs
        case .ref(let id): [id]
        }
    }
}

/// Everything a worker needs to run a task, and the scheduler to place and retry it.
public struct TaskSpec: Sendable, Equatable {
    /// The task; its return object has the same identifier.
    public var taskID: TaskID
    /// The function's mangled type name, which a worker resolves in its own binary.
    public var functionID: String
    /// The name users see in logs and errors.
    public var name: String
    public var args: [TaskArg]
    /// Resource demand by name (`CPU`, `GPU`, `memory`, custom).
    public var resources: [String: Double]
    /// Retries after a worker crash; -1 retries forever.
    public var maxRetries: Int
    /// Whether an error thrown by user code is retried too.
    public var retryExceptions: Bool
    /// The task that submitted this one (`.none` for the driver).
    public var parentTaskID: TaskID
    /// 0 on the first run, then one more per retry.
    public var attempt: UInt32
    /// Where it may run.
    public var strategy: SchedulingStrategy
    /// The objects of its results after the first, when it has several (Ray's `num_returns`);
    /// minted by the submitter like the task's own id.
    public var extraReturns: [ObjectID] = []
    /// Environment variables its worker runs with (its runtime environment's `envVars`).
    public var environment: [String: String] = [:]
    /// Set when the function yields a stream of items instead of returning one value.
    public var streaming: StreamingReturns?

    public init(
        taskID: TaskID, functionID: String, name: String, args: [TaskArg], resources: [String: Double],
        maxRetries: Int, retryExceptions: Bool, parentTaskID: TaskID = .none, attempt: UInt32 = 0,
        strategy: SchedulingStrategy = .default
    ) {
        self.strategy = strategy
        self.taskID = taskID
        self.functionID = functionID
        self.name = name
        self.args = args
        self.resources = resources
        self.maxRetries = maxRetries
        self.retryExceptions = retryExceptions
        self.parentTaskID = parentTaskID
        self.attempt = attempt
    }

    /// The object the task's (first) result goes to.
    public var returnID: ObjectID { taskID }

    /// Every object its results go to, in order.
    public var returnIDs: [ObjectID] { extraReturns.isEmpty ? [taskID] : [taskID] + extraReturns }

    /// The objects the task keeps alive until it finishes.
    public var heldRefs: [ObjectID] { args.flatMap(\.heldRefs) }

    /// The objects that must exist before the task can run.
    public var dependencies: [ObjectID] {
        args.compactMap { if case .ref(let id) = $0 { id } else { nil } }
    }
}
