/// A snapshot of the cluster for the state API (`ray.state`, `swiftray list|summary|memory`), the
/// timeline and, later, the dashboard: what the scheduler knows, as plain values.
public struct ClusterState: Codable, Sendable, Equatable {
    public var nodes: [NodeState]
    public var workers: [WorkerState]
    public var tasks: [TaskState]
    public var actors: [ActorState]
    public var objects: [ObjectState]
    public var jobs: [JobState]
    public var placementGroups: [PlacementGroupState]
    /// Tuning experiments their drivers publish (`ExperimentStatus.namespace`).
    public var experiments: [ExperimentStatus]
    /// Serve hosts, their proxies and applications (`ServeHostStatus`, published to the KV store).
    public var serve: [ServeHostStatus]
    /// Dataset executions their drivers publish (`DatasetStatus.namespace`), newest first.
    public var datasets: [DatasetStatus]

    public init(
        nodes: [NodeState] = [], workers: [WorkerState] = [], tasks: [TaskState] = [], actors: [ActorState] = [],
        objects: [ObjectState] = [], jobs: [JobState] = [], placementGroups: [PlacementGroupState] = [], experiments: [ExperimentStatus] = [],
        serve: [ServeHostStatus] = [], datasets: [DatasetStatus] = []
    ) {
        self.experiments = experiments
        self.serve = serve
        self.datasets = datasets
        self.nodes = nodes
        self.workers = workers
        self.tasks = tasks
        self.actors = actors
        self.objects = objects
        self.jobs = jobs
        self.placementGroups = placementGroups
    }
}

public struct NodeState: Codable, Sendable, Equatable {
    public var nodeID: String
    public var address: String
    public var alive: Bool
    public var isHead: Bool
    public var total: [String: Double]
    public var available: [String: Double]
    /// Large objects whose copies its shared-memory store holds, and their bytes.
    public var storedObjects: Int
    public var storedBytes: Int

    public init(
        nodeID: String, address: String, alive: Bool, isHead: Bool, total: [String: Double], available: [String: Double],
        storedObjects: Int = 0, storedBytes: Int = 0
    ) {
        self.nodeID = nodeID
        self.address = address
        self.alive = alive
        self.isHead = isHead
        self.total = total
        self.available = available
        self.storedObjects = storedObjects
        self.storedBytes = storedBytes
    }
}

public struct WorkerState: Codable, Sendable, Equatable {
    public var workerID: Int
    public var pid: Int32
    public var nodeID: String
    /// `"driver"`, `"actor"` or `"task"`.
    public var kind: String
    /// The actor it hosts, if any.
    public var actorID: String?
    /// Tasks sent to it and not finished.
    public var runningTasks: Int
    public var alive: Bool

    public init(workerID: Int, pid: Int32, nodeID: String, kind: String, actorID: String?, runningTasks: Int, alive: Bool) {
        self.workerID = workerID
        self.pid = pid
        self.nodeID = nodeID
        self.kind = kind
        self.actorID = actorID
        self.runningTasks = runningTasks
        self.alive = alive
    }
}

/// A task or actor call, pending, running or recently finished (the scheduler keeps the last
/// finished ones for the state API and the timeline).
public struct TaskState: Codable, Sendable, Equatable {
    /// Ray's task states.
    public enum State: String, Codable, Sendable {
        case pendingArgsAvail = "PENDING_ARGS_AVAIL"
        case pendingNodeAssignment = "PENDING_NODE_ASSIGNMENT"
        case running = "RUNNING"
        case finished = "FINISHED"
        case failed = "FAILED"
    }

    public var taskID: String
    public var name: String
    public var state: State
    /// `"NORMAL_TASK"` or `"ACTOR_TASK"`.
    public var type: String
    public var nodeID: String?
    public var workerPID: Int32?
    public var attempt: Int
    public var resources: [String: Double]
    /// Microseconds since the Unix epoch: when it was submitted, started running, ended.
    public var submittedAt: Int64
    public var startedAt: Int64?
    public var endedAt: Int64?
    /// The error's type and message, for failed tasks.
    public var error: String?

    public init(
        taskID: String, name: String, state: State, type: String, nodeID: String?, workerPID: Int32?, attempt: Int,
        resources: [String: Double], submittedAt: Int64, startedAt: Int64?, endedAt: Int64?, error: String?
    ) {
        self.taskID = taskID
        self.name = name
        self.state = state
        self.type = type
        self.nodeID = nodeID
        self.workerPID = workerPID
        self.attempt = attempt
        self.resources = resources
        self.submittedAt = submittedAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.error = error
    }
}

public struct ActorState: Codable, Sendable, Equatable {
    /// Ray's actor states.
    public enum State: String, Codable, Sendable {
        case pendingCreation = "PENDING_CREATION"
        case alive = "ALIVE"
        case restarting = "RESTARTING"
        case dead = "DEAD"
    }

    public var actorID: String
    public var className: String
    public var name: String
    public var namespace: String
    public var state: State
    public var nodeID: String?
    public var pid: Int32?
    /// Restarts so far.
    public var restarts: Int
    public var detached: Bool
    public var deathCause: String?

    public init(
        actorID: String, className: String, name: String, namespace: String, state: State, nodeID: String?,
        pid: Int32?, restarts: Int, detached: Bool, deathCause: String?
    ) {
        self.actorID = actorID
        self.className = className
        self.name = name
        self.namespace = namespace
        self.state = state
        self.nodeID = nodeID
        self.pid = pid
        self.restarts = restarts
        self.detached = detached
        self.deathCause = deathCause
    }
}

/// One object of the object table (`swiftray memory`).
public struct ObjectState: Codable, Sendable, Equatable {
    public var objectID: String
    /// Bytes of its value (0 while pending).
    public var size: Int
    /// `"inline"`, `"shared-memory"`, `"spilled"`, `"remote"` (only in other nodes' stores),
    /// `"pending"` or `"error"`.
    public var location: String
    /// Processes holding a reference, and pins (pending tasks, containing objects).
    public var holders: Int
    public var pins: Int
    /// The holding processes' pids (0: the embedded driver).
    public var holderPIDs: [Int32]
    /// The nodes whose stores hold a copy (large objects; the node that made it first).
    public var nodes: [String]

    public init(objectID: String, size: Int, location: String, holders: Int, pins: Int, holderPIDs: [Int32], nodes: [String] = []) {
        self.objectID = objectID
        self.size = size
        self.location = location
        self.holders = holders
        self.pins = pins
        self.holderPIDs = holderPIDs
        self.nodes = nodes
    }
}

public struct JobState: Codable, Sendable, Equatable {
    public var jobID: String
    public var driverPID: Int32
    /// `"RUNNING"` or `"SUCCEEDED"` (the driver disconnected).
    public var status: String
    public var binary: String
    public var startedAt: Int64
    public var endedAt: Int64?
    /// `"DRIVER"` (a program that connected) or `"SUBMISSION"` (a job submitted to the head,
    /// `binary` then being its entrypoint and `status` Ray's job status), as Ray's job types.
    public var type: String

    public init(jobID: String, driverPID: Int32, status: String, binary: String, startedAt: Int64, endedAt: Int64?, type: String = "DRIVER") {
        self.jobID = jobID
        self.driverPID = driverPID
        self.status = status
        self.binary = binary
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.type = type
    }
}

public struct PlacementGroupState: Codable, Sendable, Equatable {
    public var placementGroupID: String
    public var name: String
    public var strategy: String
    /// `"PENDING"`, `"CREATED"` or `"REMOVED"`.
    public var state: String
    public var bundles: [[String: Double]]
    /// The node of each bundle, once placed.
    public var bundleNodes: [String]

    public init(placementGroupID: String, name: String, strategy: String, state: String, bundles: [[String: Double]], bundleNodes: [String]) {
        self.placementGroupID = placementGroupID
        self.name = name
        self.strategy = strategy
        self.state = state
        self.bundles = bundles
        self.bundleNodes = bundleNodes
    }
}

/// How many tasks of one function (or actor method) are in each state.
public struct TaskSummary: Sendable, Equatable, Codable {
    public var name: String
    /// `NORMAL_TASK` or `ACTOR_TASK`.
    public var type: String
    public var counts: [String: Int]

    public init(name: String, type: String, counts: [String: Int]) {
        self.name = name
        self.type = type
        self.counts = counts
    }

    /// Counts by name and state, sorted by name.
    public static func of(_ tasks: [TaskState]) -> [TaskSummary] {
        var byName: [String: TaskSummary] = [:]
        for task in tasks {
            byName[task.name, default: TaskSummary(name: task.name, type: task.type, counts: [:])].counts[task.state.rawValue, default: 0] += 1
        }
        return byName.values.sorted { $0.name < $1.name }
    }
}
