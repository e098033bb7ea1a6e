import Distributed
import RayWire

/// A distributed actor that lives in a worker process of the cluster. Adopt it with the
/// `@RayActor` macro, which writes the requirements below from the actor's own declarations.
public protocol RayActor: DistributedActor where ActorSystem == RayActorSystem, ID == RayActorID {
    /// Calls run at once when no `maxConcurrency` is given: 1000 for actors with `async` methods
    /// (as Ray's async actors), else 1.
    static var _rayDefaultMaxConcurrency: Int { get }
    /// Runs the initializer named `initializer` (e.g. `init(actorSystem:)`) with decoded arguments.
    static func _rayCreate(initializer: String, system: RayActorSystem, arguments: inout TaskArguments) async throws -> Self
    /// Calls the method named `method` (e.g. `increment(by:)`) on the local actor, already isolated
    /// to it (no hop per call), and encodes its result.
    static func _rayDispatch(_ actor: isolated Self, method: String, arguments: TaskArguments) async throws -> ObjectPayload
    /// The methods `_rayDispatch` knows, by key (those declared in the actor's body; one declared
    /// in an extension is reached as a distributed call).
    static var _rayMethodKeys: Set<String> { get }
}

extension RayActor {
    /// None: a conformance the macro did not write is called through distributed calls only.
    public static var _rayMethodKeys: Set<String> { [] }
}

/// Makes a `distributed actor` a Ray actor: sets its `ActorSystem` to `RayActorSystem` and adds
///
/// - `actor.remote.method(...)`: submits a call and returns an `ObjectRef` at once (each argument a
///   value or an `ObjectRef` of its type), to pass on, `get` or `wait`;
/// - `try await Type.create(args..., options:)` for each initializer (Ray's `Actor.remote(args)`);
/// - the name-based dispatch a worker uses to construct the actor and run its methods.
///
/// Calling `try await actor.method(...)` directly also works, through the distributed actor system.
@attached(member, names: named(ActorSystem), named(Remote), named(remote), named(create),
          named(_rayDefaultMaxConcurrency), named(_rayMethodKeys), named(_rayCreate), named(_rayDispatch))
@attached(extension, conformances: RayActor)
public macro RayActor() = #externalMacro(module: "RayMacros", type: "RayActorMacro")

/// How long an actor lives.
public enum ActorLifetime: Sendable, Equatable {
    /// It outlives its creator, until killed or the cluster stops.
    case detached
}

/// Options of an actor, named as in Ray.
public struct ActorOptions: Sendable, Equatable {
    /// CPUs held while it lives (default none: like Ray, an actor needs 1 CPU to be placed and holds 0).
    public var numCPUs: Double?
    /// GPUs held while it lives.
    public var numGPUs: Double?
    /// Bytes of memory reserved while it lives.
    public var memory: Double?
    /// Custom resources held while it lives.
    public var resources: [String: Double]
    /// Restarts after its process dies (default 0; -1 forever). Its constructor runs again.
    public var maxRestarts: Int
    /// Retries of a call whose actor died mid-call, when the actor restarts (default 0; -1 forever).
    public var maxTaskRetries: Int
    /// Calls run at once (default 1, or 1000 for actors with `async` methods).
    public var maxConcurrency: Int?
    /// A name to find it by with `ray.getActor(name:)`, unique in its namespace.
    public var name: String?
    /// The namespace of its name (default `"default"`).
    public var namespace: String?
    /// `.detached` to outlive its creator.
    public var lifetime: ActorLifetime?
    /// Where it may be placed (as for tasks).
    public var schedulingStrategy: SchedulingStrategy
    /// The runtime environment its worker runs in (added to the job's).
    public var runtimeEnv: RuntimeEnvironment?

    public init(
        numCPUs: Double? = nil, numGPUs: Double? = nil, memory: Double? = nil, resources: [String: Double] = [:],
        maxRestarts: Int = 0, maxTaskRetries: Int = 0, maxConcurrency: Int? = nil, name: String? = nil,
        namespace: String? = nil, lifetime: ActorLifetime? = nil, schedulingStrategy: SchedulingStrategy = .default,
        runtimeEnv: RuntimeEnvironment? = nil
    ) {
        self.schedulingStrategy = schedulingStrategy
        self.runtimeEnv = runtimeEnv
        self.numCPUs = numCPUs
        self.numGPUs = numGPUs
        self.memory = memory
        self.resources = resources
        self.maxRestarts = maxRestarts
        self.maxTaskRetries = maxTaskRetries
        self.maxConcurrency = maxConcurrency
        self.name = name
        self.namespace = namespace
        self.lifetime = lifetime
    }

    var demand: [String: Double] {
        var demand = resources
        if let numCPUs, numCPUs > 0 { demand["CPU"] = numCPUs }
        if let numGPUs, numGPUs > 0 { demand["GPU"] = numGPUs }
        if let memory, memory > 0 { demand["memory"] = memory }
        return demand
    }

    var problem: String? {
        if [numCPUs, numGPUs, memory].contains(where: { ($0 ?? 0) < 0 }) || resources.values.contains(where: { $0 < 0 }) {
            return "resource amounts cannot be negative"
        }
        if maxRestarts < -1 || maxTaskRetries < -1 { return "maxRestarts and maxTaskRetries must be -1 (forever) or more" }
        if let maxConcurrency, maxConcurrency < 1 { return "maxConcurrency must be at least 1" }
        return nil
    }
}

/// The default namespace of named actors.
public let defaultNamespace = "default"
