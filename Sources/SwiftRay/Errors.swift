import RayWire

/// Every error the runtime raises conforms to this.
public protocol RayError: Error, CustomStringConvertible, Sendable {}

/// A driver's connection to its cluster's head closed; the session cannot be resumed (see
/// `RayWire.HeadConnectionLostError`).
public typealias HeadConnectionLostError = RayWire.HeadConnectionLostError
extension HeadConnectionLostError: RayError {}

/// A remote function threw. Carries the original error's type and message, the function's name,
/// and the node and process that ran it.
public struct RayTaskError: RayError {
    /// The Swift type name of the error the task threw.
    public let errorType: String
    /// The thrown error's description.
    public let message: String
    /// The remote function that threw.
    public let functionName: String
    /// The node that ran it.
    public let nodeID: String
    /// The worker process that ran it.
    public let pid: Int32

    /// The error as Ray prints it: its type, then the details.
    public var description: String {
        "RayTaskError(\(errorType)): \(functionName) (pid=\(pid), node=\(nodeID)) threw: \(message)"
    }
}

/// `get` waited longer than its timeout.
public struct GetTimeoutError: RayError {
    /// How long `get` waited.
    public let timeout: Duration
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "GetTimeoutError: the object was not ready within \(timeout)" }
}

/// The worker running a task died (crash, `exit`, kill) and no retries were left.
public struct WorkerCrashedError: RayError {
    /// The remote function (or actor method) concerned.
    public let functionName: String
    /// The worker process that died.
    public let pid: Int32
    /// What happened, for people.
    public let message: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "WorkerCrashedError: \(message)" }
}

/// The task was cancelled with `ray.cancel` before it produced a value.
public struct TaskCancelledError: RayError {
    /// The remote function (or actor method) concerned.
    public let functionName: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "TaskCancelledError: task \(functionName) was cancelled" }
}

/// No node of the cluster can ever provide the resources the task asks for.
public struct TaskUnschedulableError: RayError {
    /// The remote function (or actor method) concerned.
    public let functionName: String
    /// What happened, for people.
    public let message: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "TaskUnschedulableError: \(message)" }
}

/// A value could not be encoded or decoded; names the type.
public struct RaySerializationError: RayError {
    /// The type that failed.
    public let typeName: String
    /// Why encoding or decoding failed.
    public let reason: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "RaySerializationError: \(typeName): \(reason)" }
}

/// The actor is dead: its constructor threw, it was killed, or its process died with no restarts
/// left. Calls to a dead actor fail at once with this error.
public struct ActorDiedError: RayError {
    /// The actor's type.
    public let actorClass: String
    /// Why it died.
    public let message: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "ActorDiedError: \(message)" }
}

/// An object larger than the node's shared-memory store could ever hold (its capacity, set by
/// `Ray.start(objectStoreMemory:)`).
public struct ObjectStoreFullError: RayError {
    /// What happened, for people.
    public let message: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "ObjectStoreFullError: \(message)" }
}

/// The node's memory monitor killed the worker running the task (the node's memory use passed
/// its threshold, `SWIFTRAY_MEMORY_USAGE_THRESHOLD`, default 0.95) and no retries were left. The
/// message names the node and its memory use. Ray's `OutOfMemoryError`.
public struct OutOfMemoryError: RayError {
    /// The task's function.
    public let functionName: String
    /// What happened, for people: the node, its memory use and the threshold.
    public let message: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "OutOfMemoryError: \(message)" }
}

/// The object is gone and cannot be rebuilt.
public struct ObjectLostError: RayError {
    /// What happened, for people.
    public let message: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "ObjectLostError: \(message)" }
}

/// The runtime cannot serve the call: not started, already started, shut down, bad options.
public struct RaySystemError: RayError {
    /// What happened, for people.
    public let message: String
    /// The error as Ray prints it: its type, then the details.
    public var description: String { "RaySystemError: \(message)" }

    static let notStarted = RaySystemError(
        message: "swift-ray is not running: call `try await Ray.start()` first (or it was shut down)")
}

extension ErrorInfo {
    /// The typed error this wire error stands for.
    var typedError: any RayError {
        switch kind {
        case .taskError:
            RayTaskError(errorType: errorType, message: message, functionName: functionName, nodeID: nodeID, pid: pid)
        case .workerCrashed: WorkerCrashedError(functionName: functionName, pid: pid, message: message)
        case .cancelled: TaskCancelledError(functionName: functionName)
        case .unschedulable: TaskUnschedulableError(functionName: functionName, message: message)
        case .serialization: RaySerializationError(typeName: errorType, reason: message)
        case .objectLost: ObjectLostError(message: message)
        case .system: RaySystemError(message: message)
        case .actorDied: ActorDiedError(actorClass: functionName, message: message)
        case .objectStoreFull: ObjectStoreFullError(message: message)
        case .timeout: RaySystemError(message: message)
        case .outOfMemory: OutOfMemoryError(functionName: functionName, message: message)
        }
    }
}

extension RayError {
    /// The error as it travels, so a task that rethrows a child's error passes it on unchanged.
    var info: ErrorInfo {
        switch self {
        case let error as RayTaskError:
            ErrorInfo(kind: .taskError, errorType: error.errorType, message: error.message,
                      functionName: error.functionName, nodeID: error.nodeID, pid: error.pid)
        case let error as WorkerCrashedError:
            ErrorInfo(kind: .workerCrashed, message: error.message, functionName: error.functionName, pid: error.pid)
        case let error as TaskCancelledError: ErrorInfo(kind: .cancelled, message: description, functionName: error.functionName)
        case let error as TaskUnschedulableError:
            ErrorInfo(kind: .unschedulable, message: error.message, functionName: error.functionName)
        case let error as RaySerializationError: ErrorInfo(kind: .serialization, errorType: error.typeName, message: error.reason)
        case let error as ObjectLostError: ErrorInfo(kind: .objectLost, message: error.message)
        case let error as ActorDiedError: ErrorInfo(kind: .actorDied, message: error.message, functionName: error.actorClass)
        case let error as ObjectStoreFullError: ErrorInfo(kind: .objectStoreFull, message: error.message)
        case let error as OutOfMemoryError: ErrorInfo(kind: .outOfMemory, message: error.message, functionName: error.functionName)
        case let error as RaySystemError: ErrorInfo(kind: .system, message: error.message)
        default: ErrorInfo(kind: .taskError, errorType: String(describing: type(of: self)), message: description)
        }
    }
}
