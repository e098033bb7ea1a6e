import RayPlatform
import RayWire
import RayWorker

/// Where the calling code runs: Ray's `ray.get_runtime_context()`. In the driver only `nodeID` and
/// `processID` are set; in a task, its id, name, attempt and resources too; in an actor method, the
/// actor's as well.
public struct RuntimeContext: Sendable, Codable, Equatable {
    /// The node this process runs on.
    public var nodeID: String
    /// This process.
    public var processID: Int32
    /// The running task or actor call (nil in the driver outside any task).
    public var taskID: TaskID?
    /// Its name (`f`, `Counter.increment`).
    public var taskName: String?
    /// 0 on the first run, one more per retry.
    public var attempt: Int
    /// What it was given (Ray's `get_assigned_resources()`): a task's demand, or the resources
    /// its actor holds.
    public var assignedResources: [String: Double]
    /// The actor this process hosts, if any, with its name and namespace (nil when anonymous).
    public var actorID: RayID?
    public var actorName: String?
    public var namespace: String?
    /// Whether the hosted actor was restarted after its process died at least once (Ray's
    /// `was_current_actor_reconstructed`); `actorRestarts` counts those restarts.
    public var wasCurrentActorRestarted: Bool { actorRestarts > 0 }
    public var actorRestarts: Int
}

extension Ray {
    /// The runtime context of the calling code (Ray's `ray.get_runtime_context()`).
    public var runtimeContext: RuntimeContext {
        let task = TaskContext.current
        let actor = ActorHosting.shared.hosted.withLock { $0 }
        return RuntimeContext(
            nodeID: RuntimeRegistry.current?.nodeID ?? "", processID: getpid(), taskID: task?.taskID, taskName: task?.name,
            attempt: task?.attempt ?? 0, assignedResources: task?.resources ?? actor?.resources ?? [:], actorID: actor?.actorID,
            actorName: actor.flatMap { $0.name.isEmpty ? nil : $0.name }, namespace: actor?.namespace,
            actorRestarts: actor?.restarts ?? 0)
    }

    /// Every resource of the live nodes, summed (Ray's `ray.cluster_resources()`).
    public func clusterResources() async throws -> [String: Double] {
        Self.sum(try await nodes().filter(\.alive).map(\.total))
    }

    /// What the live nodes leave free now, summed (Ray's `ray.available_resources()`); resources
    /// with nothing free are left out, as in Ray.
    public func availableResources() async throws -> [String: Double] {
        Self.sum(try await nodes().filter(\.alive).map(\.available)).filter { $0.value > 0 }
    }

    /// The cluster's nodes, dead ones included (Ray's `ray.nodes()`).
    public func nodes() async throws -> [NodeState] {
        try await state.nodes()
    }

    private static func sum(_ sets: [[String: Double]]) -> [String: Double] {
        sets.reduce(into: [:]) { total, set in total.merge(set, uniquingKeysWith: +) }
    }
}
