/// Why an object holds an error instead of a value, as it travels between processes.
public struct ErrorInfo: Sendable, Equatable, Codable {
    /// The kind of failure.
    public enum Kind: UInt8, Sendable, Codable {
        /// User code threw.
        case taskError = 1
        /// The worker process died while running the task, and no retries were left.
        case workerCrashed = 2
        /// The task was cancelled.
        case cancelled = 3
        /// No node can ever provide the task's resources.
        case unschedulable = 4
        /// An argument or result could not be encoded or decoded.
        case serialization = 5
        /// The object is gone and cannot be rebuilt.
        case objectLost = 6
        /// The runtime failed (not started, shut down, internal error).
        case system = 7
        /// The actor is dead (its constructor threw, it was killed, or its process died with no
        /// restarts left).
        case actorDied = 8
        /// The object does not fit in the shared-memory store even after spilling.
        case objectStoreFull = 9
        /// A wait (for a placement group, say) ran out of time.
        case timeout = 10
        /// The memory monitor killed the worker running it (its node's memory was nearly full) and
        /// no retries were left.
        case outOfMemory = 11
    }

    public var kind: Kind
    /// The Swift type of the original error (for `taskError`), or of the value (for `serialization`).
    public var errorType: String
    /// The original error's description.
    public var message: String
    /// The remote function that failed.
    public var functionName: String
    /// The node that ran it.
    public var nodeID: String
    /// The process that ran it (0 when it never ran).
    public var pid: Int32

    public init(kind: Kind, errorType: String = "", message: String, functionName: String = "", nodeID: String = "", pid: Int32 = 0) {
        self.kind = kind
        self.errorType = errorType
        self.message = message
        self.functionName = functionName
        self.nodeID = nodeID
        self.pid = pid
    }
}

/// A value in the binary encoding, with the object refs it contains: those objects live at least as
/// long as the value does. A large value lives in the node's shared-memory store instead of `bytes`:
/// `shared` names the object whose sealed file holds its `sharedSize` bytes.
public struct EncodedValue: Sendable, Equatable {
    public var bytes: [UInt8]
    public var refs: [ObjectID]
    /// The object whose shared-memory file holds the bytes, if they are not inline.
    public var shared: ObjectID?
    public var sharedSize: Int

    public init(bytes: [UInt8], refs: [ObjectID] = [], shared: ObjectID? = nil, sharedSize: Int = 0) {
        self.bytes = bytes
        self.refs = refs
        self.shared = shared
        self.sharedSize = sharedSize
    }

    /// Bytes of the value, wherever they are.
    public var size: Int { shared == nil ? bytes.count : sharedSize }
}

/// A finished object: an encoded value, or the error that took its place.
public enum ObjectPayload: Sendable, Equatable {
    case value(EncodedValue)
    case error(ErrorInfo)

    /// The refs the value contains.
    public var containedRefs: [ObjectID] {
        if case .value(let value) = self { return value.refs }
        return []
    }

    /// Bytes held for this object.
    public var size: Int {
        if case .value(let value) = self { return value.size }
        return 0
    }

    /// The shared-memory object holding the value's bytes, if any.
    public var sharedObject: ObjectID? {
        if case .value(let value) = self { return value.shared }
        return nil
    }
}
