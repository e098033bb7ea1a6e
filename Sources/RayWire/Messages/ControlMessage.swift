/// Messages of the cluster's control plane: the handshake every connection starts with, jobs and
/// their binaries, node daemons starting and stopping workers, output and status. Rare next to task
/// traffic, so they travel in the Codable binary encoding inside one `WireMessage.control` frame.
public enum ControlMessage: Codable, Sendable, Equatable {
    /// The first message on every connection: the cluster token and who connects.
    case hello(Hello)
    /// The head accepted the connection.
    case welcome(Welcome)
    /// A driver's job: the head needs its executable (by content hash) to start its workers.
    case registerJob(JobRequest)
    /// The head lacks the job's binary: send it (`binaryChunk`s).
    case needBinary(hash: String)
    /// A piece of a binary, in order; `last` ends it.
    case binaryChunk(hash: String, bytes: [UInt8], last: Bool)
    /// The job is registered; normal messages follow.
    case jobReady(jobID: String)
    /// A node daemon asks the head for a binary it has not cached; or a head started on another
    /// machine asks a node for one back (answered by `binaryChunk`s, an empty last one if it has none).
    case fetchBinary(hash: String)
    /// Start a worker process on the node (head to node daemon).
    case startWorker(StartWorker)
    /// Kill a worker process (head to node daemon).
    case killWorker(workerID: Int)
    /// A worker process ended with this code (node daemon to head; negative: signal).
    case workerExited(workerID: Int, code: Int32)
    /// A line a worker printed: raw from a node daemon to the head, prefixed `(name pid=N)` from
    /// the head to drivers.
    case output(workerID: Int, text: String, isError: Bool)
    /// A node daemon is alive.
    case heartbeat
    /// A placement group operation (driver or task to the scheduler), answered by `requestDone`.
    case placementGroup(requestID: UInt64, PlacementGroupRequest)
    /// Ask for a snapshot of everything the scheduler knows (the state API), and the answer.
    case stateRequest(requestID: UInt64)
    /// Ask for the nodes only (answered by `state` with nothing else in it): cheap enough to poll.
    case nodesRequest(requestID: UInt64)
    case state(requestID: UInt64, ClusterState)
    /// A worker's kept output (`swiftray logs`), and the answer: text, the offset to follow from,
    /// or an error message.
    case logsRequest(requestID: UInt64, LogsQuery)
    case logs(requestID: UInt64, text: String, next: Int, error: String?)
    /// The head's key-value store (`ray.kv`), and the answer.
    case kv(requestID: UInt64, KVRequest)
    case kvReply(requestID: UInt64, KVReply)
    /// Ask for the cluster's state (`swiftray status`).
    case statusRequest
    case status(ClusterStatus)
    /// Copy a shared object into the node's store from the object server at `host:port` ("" host:
    /// the head's own address) (head to node daemon), answered by `objectPulled`.
    case pullObject(id: RayID, size: Int, host: String, port: Int)
    /// The copy is in the node's store, or why it is not (`sourceLost`: the source could not
    /// provide it, rather than this node's store failing to take it).
    case objectPulled(id: RayID, error: String?, sourceLost: Bool)
    /// Remove these objects' copies from the node's store (head to node daemon).
    case freeObjects([RayID])
    /// The node's object server listens on this port (node daemon to head, after the welcome);
    /// until then, and without it, large objects reach the node's workers inline.
    case objectServer(port: Int)
    /// An object server cannot send an object (to a puller), and why.
    case objectUnavailable(id: RayID, reason: String)
    /// An autoscaler running outside the head (KubeRay's sidecar, a client) asks for the nodes and
    /// the demand waiting for resources, and the answer.
    case autoscalingViewRequest(requestID: UInt64)
    case autoscalingView(requestID: UInt64, AutoscalingView)
    /// That autoscaler's node types, nodes to drain and report (no answer).
    case autoscalerUpdate(AutoscalerUpdate)
    /// Run a submitted job's entrypoint on this node, where its resources were set aside (head to
    /// node daemon).
    case runEntrypoint(EntrypointLaunch)
    /// What such an entrypoint printed, in order (node daemon to head).
    case entrypointOutput(jobID: String, bytes: [UInt8])
    /// It ended with `code`, or could not start (`code` nil, `error` says why) (node daemon to head).
    case entrypointExited(jobID: String, code: Int32?, error: String?)
    /// Stop it: SIGTERM to its process group, SIGKILL after a grace period (head to node daemon).
    case stopEntrypoint(jobID: String)
    /// The node's memory use passed its memory monitor's threshold (node daemon to head, which
    /// kills a task's worker there).
    case memoryPressure(used: Int64, total: Int64, threshold: Double)
    /// The sealed objects a rejoining node's store kept through its head's absence (node daemon
    /// to head, after the welcome; empty when it kept none): the head adopts those it does not
    /// know and has the node free the rest.
    case storedObjects([StoredObject])
}

/// An object in a node's store: its id (the file's name) and size in bytes.
public struct StoredObject: Codable, Sendable, Equatable {
    public var id: RayID
    public var size: Int

    public init(id: RayID, size: Int) {
        self.id = id
        self.size = size
    }
}

/// A job's entrypoint for a node to run.
public struct EntrypointLaunch: Codable, Sendable, Equatable {
    public var jobID: String
    public var command: String
    /// Its variables (the node sets the head's address and token as it knows them).
    public var environment: [String: String]
    /// The zipped working directory, if the job has one.
    public var package: [UInt8]?

    public init(jobID: String, command: String, environment: [String: String], package: [UInt8]?) {
        self.jobID = jobID
        self.command = command
        self.environment = environment
        self.package = package
    }
}

/// What an autoscaler reads of the cluster.
public struct AutoscalingView: Codable, Sendable, Equatable {
    /// A resource shape waiting, and how many of it.
    public struct Demand: Codable, Sendable, Equatable {
        public var shape: [String: Double]
        public var count: Int
        /// Set for the bundles of one STRICT_SPREAD placement group: each needs its own node.
        public var spreadGroup: String?

        public init(shape: [String: Double], count: Int, spreadGroup: String? = nil) {
            self.shape = shape
            self.count = count
            self.spreadGroup = spreadGroup
        }
    }

    public var status: ClusterStatus
    public var demands: [Demand]

    public init(status: ClusterStatus, demands: [Demand]) {
        self.status = status
        self.demands = demands
    }
}

/// What an autoscaler tells the head.
public struct AutoscalerUpdate: Codable, Sendable, Equatable {
    /// Shapes of the node types it can add (work that fits one waits instead of failing as
    /// infeasible); nil leaves them as they are.
    public var nodeTypes: [[String: Double]]?
    /// Nodes to stop placing work on (they are about to be removed).
    public var drain: [String]
    /// Lines for `swiftray status`; nil leaves them as they are.
    public var report: [String]?

    public init(nodeTypes: [[String: Double]]? = nil, drain: [String] = [], report: [String]? = nil) {
        self.nodeTypes = nodeTypes
        self.drain = drain
        self.report = report
    }
}

/// Who opens a connection.
public enum PeerRole: Codable, Sendable, Equatable {
    /// A driver (a user's program).
    case driver
    /// A worker a node daemon started, reporting under the id the head gave it.
    case worker(id: Int)
    /// A worker hosting an actor that outlived its head, attaching it (state and all) to a
    /// restarted head: under its id, the actor's and its node's. `spec` (`ActorSpec.storedBytes`)
    /// for an actor that is not detached, which the head did not record.
    case reattachingWorker(id: Int, actorID: RayID, nodeID: String, spec: [UInt8]?)
    /// A task worker that outlived its head, handing a restarted head the tasks it was sent:
    /// those still running or queued, and those that finished meanwhile (their results follow).
    case reattachingTaskWorker(id: Int, nodeID: String, tasks: [TaskID])
    /// A node daemon joining with its resources.
    case node(NodeInfo)
    /// A command-line client asking questions (status).
    case client
    /// A node pulling objects from an object server.
    case objects
    /// A driver that outlived its head, carrying its session on with the restarted head: it
    /// registers its job as a driver does, then sends `resumeSession`.
    case resumingDriver
}

public struct Hello: Codable, Sendable, Equatable {
    public var token: String
    public var role: PeerRole
    public var pid: Int32
    public var host: String

    public init(token: String, role: PeerRole, pid: Int32, host: String) {
        self.token = token
        self.role = role
        self.pid = pid
        self.host = host
    }
}

public struct Welcome: Codable, Sendable, Equatable {
    /// The id the head gave the connecting node (or the head's own, for others).
    public var nodeID: String
    public var session: String
    /// The port of the head's object server (nil: objects reach this node inline).
    public var objectPort: Int?
    /// For nodes of a TLS cluster: the cluster's certificate and key, PEM, which their object
    /// servers present.
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init(nodeID: String, session: String, objectPort: Int? = nil, tlsCertificate: String? = nil, tlsKey: String? = nil) {
        self.nodeID = nodeID
        self.session = session
        self.objectPort = objectPort
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
    }
}

/// A node daemon's description of its machine.
public struct NodeInfo: Codable, Sendable, Equatable {
    public var resources: [String: Double]
    public var host: String
    /// Set when a node rejoins after losing its head: the id it had, which it keeps (its workers
    /// that outlived the head present it). Their worker ids are safe: a head with a state store
    /// numbers new workers past any a previous head gave.
    public var rejoining: Rejoining?

    public struct Rejoining: Codable, Sendable, Equatable {
        public var nodeID: String
        /// Its workers alive now (some re-attach their work; the restarted head waits for them
        /// before resuming drivers).
        public var workers: [Int]

        public init(nodeID: String, workers: [Int] = []) {
            self.nodeID = nodeID
            self.workers = workers
        }
    }

    public init(resources: [String: Double], host: String, rejoining: Rejoining? = nil) {
        self.resources = resources
        self.host = host
        self.rejoining = rejoining
    }
}

public struct JobRequest: Codable, Sendable, Equatable {
    /// The executable's content hash (see `BinaryHash`) and size.
    public var binaryHash: String
    public var binarySize: Int
    /// The program's name, for status and logs.
    public var name: String

    public init(binaryHash: String, binarySize: Int, name: String) {
        self.binaryHash = binaryHash
        self.binarySize = binarySize
        self.name = name
    }
}

public struct StartWorker: Codable, Sendable, Equatable {
    public var workerID: Int
    public var binaryHash: String
    /// For the worker's log prefix until it runs something.
    public var name: String
    /// Environment variables it runs with (its runtime environment's).
    public var environment: [String: String]

    public init(workerID: Int, binaryHash: String, name: String, environment: [String: String] = [:]) {
        self.workerID = workerID
        self.binaryHash = binaryHash
        self.name = name
        self.environment = environment
    }
}

/// What `swiftray status` shows.
public struct ClusterStatus: Codable, Sendable, Equatable {
    public struct Node: Codable, Sendable, Equatable {
        public var id: String
        public var address: String
        public var alive: Bool
        public var total: [String: Double]
        public var available: [String: Double]
        public var workers: Int
        /// Of those, the ones starting (not registered yet: a node fetching the job's binary for them
        /// is about to be busy, not idle).
        public var startingWorkers: Int
        /// Large objects whose copies its store holds, and their bytes.
        public var storedObjects: Int
        public var storedBytes: Int

        public init(
            id: String, address: String, alive: Bool, total: [String: Double], available: [String: Double], workers: Int,
            startingWorkers: Int = 0, storedObjects: Int = 0, storedBytes: Int = 0
        ) {
            self.id = id
            self.address = address
            self.alive = alive
            self.total = total
            self.available = available
            self.workers = workers
            self.startingWorkers = startingWorkers
            self.storedObjects = storedObjects
            self.storedBytes = storedBytes
        }
    }

    public var session: String
    public var nodes: [Node]
    /// Tasks waiting for resources, and those no node can ever run.
    public var pendingTasks: Int
    public var pendingActors: Int
    public var drivers: Int
    /// Tasks and actors waiting for resources, by resource shape (`{CPU: 1}`).
    public var pendingDemands: [String: Int]
    /// Requests refused because no node could ever fit them, by resource shape, since the head started.
    public var infeasibleDemands: [String: Int]
    /// The autoscaler's view (launches pending or failed, idle nodes), when one runs.
    public var autoscaler: [String] = []

    public init(
        session: String, nodes: [Node], pendingTasks: Int, pendingActors: Int, drivers: Int,
        pendingDemands: [String: Int] = [:], infeasibleDemands: [String: Int] = [:]
    ) {
        self.session = session
        self.nodes = nodes
        self.pendingTasks = pendingTasks
        self.pendingActors = pendingActors
        self.drivers = drivers
        self.pendingDemands = pendingDemands
        self.infeasibleDemands = infeasibleDemands
    }
}

/// Whose output to read: a worker by pid, an actor (id or name) or a task (id); `offset` nil reads
/// the last `tail` lines, else everything from that byte on (following).
public struct LogsQuery: Codable, Sendable, Equatable {
    public var pid: Int32?
    public var actor: String?
    public var task: String?
    public var offset: Int?
    public var tail: Int

    public init(pid: Int32? = nil, actor: String? = nil, task: String? = nil, offset: Int? = nil, tail: Int = 100) {
        self.pid = pid
        self.actor = actor
        self.task = task
        self.offset = offset
        self.tail = tail
    }

    /// The most lines `tail` may ask for.
    public static let maxTail = 1_000_000

    /// Why the query cannot be answered (a negative or huge `tail`, a negative `offset`, a pid
    /// that is not a process), or nil when it is fine. Every reader checks this first.
    public var problem: String? {
        if let pid, pid <= 0 { return "pid must be a positive process id, not \(pid)" }
        if let offset, offset < 0 { return "offset must be 0 or more, not \(offset)" }
        guard (0...Self.maxTail).contains(tail) else { return "tail must be 0-\(Self.maxTail) lines, not \(tail)" }
        return nil
    }
}

/// An operation on the cluster's key-value store; keys live in namespaces.
public enum KVRequest: Codable, Sendable, Equatable {
    /// Stores `value`; with `overwrite` false an existing key is kept. Answers `.added`.
    case put(namespace: String, key: String, value: [UInt8], overwrite: Bool)
    /// Answers `.value` (nil when missing).
    case get(namespace: String, key: String)
    /// Answers `.deleted` (0 or 1).
    case delete(namespace: String, key: String)
    /// Answers `.keys`: the keys starting with `prefix`, sorted.
    case keys(namespace: String, prefix: String)
}

public enum KVReply: Codable, Sendable, Equatable {
    case added(Bool)
    case value([UInt8]?)
    case deleted(Int)
    case keys([String])
}
