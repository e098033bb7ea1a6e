import Foundation
import RayWire

/// A snapshot of the whole cluster: nodes, workers, tasks, actors, objects, jobs, placement groups.
public typealias ClusterState = RayWire.ClusterState
public typealias NodeState = RayWire.NodeState
public typealias WorkerState = RayWire.WorkerState
public typealias TaskState = RayWire.TaskState
public typealias ActorState = RayWire.ActorState
public typealias ObjectState = RayWire.ObjectState
public typealias JobState = RayWire.JobState
public typealias PlacementGroupState = RayWire.PlacementGroupState
/// A tuning experiment as published for the dashboard (SwiftRayTune does).
public typealias ExperimentStatus = RayWire.ExperimentStatus
public typealias JSONValue = RayWire.JSONValue
public typealias ServeDeployConfig = RayWire.ServeDeployConfig
public typealias ServeHostStatus = RayWire.ServeHostStatus
public typealias ServeApplicationStatus = RayWire.ServeApplicationStatus
public typealias ServeDeploymentStatus = RayWire.ServeDeploymentStatus
public typealias ExperimentTrial = RayWire.ExperimentTrial
/// A dataset execution as published for the dashboard (SwiftRayData does).
public typealias DatasetStatus = RayWire.DatasetStatus
public typealias DatasetOperatorStatus = RayWire.DatasetOperatorStatus

extension Ray {
    /// The state API (Ray's `ray.util.state`): what the cluster runs and holds, from the driver or
    /// any task. The command line shows the same (`swiftray list|summary|memory|timeline`).
    public var state: RayState { RayState() }
}

/// Queries of the cluster's state. Each call takes a fresh snapshot from the scheduler; tasks
/// include pending, running and the last 10,000 finished ones.
public struct RayState: Sendable {
    public func snapshot() async throws -> ClusterState {
        try await RuntimeRegistry.require().clusterState()
    }

    public func nodes() async throws -> [NodeState] { try await RuntimeRegistry.require().nodeStates() }
    public func workers() async throws -> [WorkerState] { try await snapshot().workers }
    public func tasks() async throws -> [TaskState] { try await snapshot().tasks }
    public func actors() async throws -> [ActorState] { try await snapshot().actors }
    public func objects() async throws -> [ObjectState] { try await snapshot().objects }
    public func jobs() async throws -> [JobState] { try await snapshot().jobs }
    public func placementGroups() async throws -> [PlacementGroupState] { try await snapshot().placementGroups }
    /// Tuning experiments published for the dashboard.
    public func experiments() async throws -> [ExperimentStatus] { try await snapshot().experiments }
    /// Dataset executions published for the dashboard, newest first.
    public func datasets() async throws -> [DatasetStatus] { try await snapshot().datasets }
    /// Serve hosts (processes running Serve's proxy and controller) and their applications.
    public func serve() async throws -> [ServeHostStatus] { try await snapshot().serve }

    /// Task counts by function (or method) and state (`swiftray summary tasks`).
    public func taskSummary() async throws -> [TaskSummary] { TaskSummary.of(try await tasks()) }

    /// The tasks and actor calls that ran, as Chrome trace JSON (chrome://tracing or Perfetto): one
    /// span per run, a process per node and a thread per worker.
    public func timeline() async throws -> Data { Data(ChromeTrace.json(try await tasks())) }
}

/// Task counts by function and state.
public typealias TaskSummary = RayWire.TaskSummary
/// Chrome trace files of task runs.
public typealias Timeline = RayWire.ChromeTrace
