/// Everything needed to create (and re-create after a crash) an actor.
public struct ActorSpec: Sendable, Equatable {
    /// The actor; calls name it.
    public var actorID: RayID
    /// The actor type's mangled name, resolved in the worker's binary.
    public var typeID: String
    /// The type's name, for logs and errors.
    public var className: String
    /// Which initializer to run (as the `@RayActor` macro names them) and its encoded arguments.
    public var initializer: String
    public var args: [TaskArg]
    /// Resources held while the actor lives.
    public var resources: [String: Double]
    /// Restarts after its process dies; -1 forever.
    public var maxRestarts: Int
    /// Retries of a call whose actor died while running it; -1 forever.
    public var maxTaskRetries: Int
    /// Calls run at once.
    public var maxConcurrency: Int
    /// A name to find it by (empty: anonymous), and its namespace.
    public var name: String
    public var namespace: String
    /// Whether it outlives its creator.
    public var detached: Bool
    /// Where it may be placed.
    public var strategy: SchedulingStrategy
    /// How many times it was restarted before this start (set by the node that hosts it).
    public var restarts: Int = 0
    /// Environment variables its worker runs with (its runtime environment's `envVars`).
    public var environment: [String: String] = [:]

    public init(
        actorID: RayID, typeID: String, className: String, initializer: String, args: [TaskArg],
        resources: [String: Double], maxRestarts: Int, maxTaskRetries: Int, maxConcurrency: Int,
        name: String, namespace: String, detached: Bool, strategy: SchedulingStrategy = .default
    ) {
        self.strategy = strategy
        self.actorID = actorID
        self.typeID = typeID
        self.className = className
        self.initializer = initializer
        self.args = args
        self.resources = resources
        self.maxRestarts = maxRestarts
        self.maxTaskRetries = maxTaskRetries
        self.maxConcurrency = maxConcurrency
        self.name = name
        self.namespace = namespace
        self.detached = detached
    }
}

/// One method call on an actor.
public struct ActorCall: Sendable, Equatable {
    /// How the worker finds the method.
    public enum Dispatch: UInt8, Sendable {
        /// By the `@RayActor` macro's method key, e.g. `increment(by:)`.
        case method = 0
        /// By a distributed target identifier (a direct `try await actor.method()` call).
        case distributedTarget = 1
    }

    /// The call; its result object has the same identifier.
    public var callID: RayID
    public var actorID: RayID
    public var dispatch: Dispatch
    public var method: String
    /// The method's display name, e.g. `Counter.increment`.
    public var name: String
    public var args: [TaskArg]
    /// 0 on the first run, one more per retry after an actor restart.
    public var attempt: UInt32
    /// Set when the method yields a stream of items instead of returning one value.
    public var streaming: StreamingReturns?
    /// The objects of its results after the first, for a method returning a tuple; minted by the
    /// caller like the call's own id.
    public var extraReturns: [RayID] = []

    public init(callID: RayID, actorID: RayID, dispatch: Dispatch, method: String, name: String, args: [TaskArg], attempt: UInt32 = 0) {
        self.callID = callID
        self.actorID = actorID
        self.dispatch = dispatch
        self.method = method
        self.name = name
        self.args = args
        self.attempt = attempt
    }

    /// Every object its results go to, in order.
    public var returnIDs: [RayID] { extraReturns.isEmpty ? [callID] : [callID] + extraReturns }

    /// The objects the call keeps alive until it finishes.
    public var heldRefs: [RayID] { args.flatMap(\.heldRefs) }

    public var dependencies: [RayID] {
        args.compactMap { if case .ref(let id) = $0 { id } else { nil } }
    }
}
