import RayNode
import RayWire
import RayWorker

/// A future: the typed reference to an object in the cluster, returned at once by `.remote(...)`
/// and `ray.put`. Pass it to other tasks (they receive the value) or `get` it.
///
/// The object lives while any `ObjectRef` to it exists in any process, while a pending task needs
/// it, or while another live object contains it; then it is freed.
public struct ObjectRef<T: Codable & Sendable>: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The object's identifier.
    public let id: ObjectID
    private let handle: RefHandle?

    /// A new reference to an existing object (counted as a holder of it).
    public init(id: ObjectID) {
        self.id = id
        handle = RefHandle(id: id, created: false)
    }

    /// The first reference to an object this process just created.
    init(created id: ObjectID) {
        self.init(_created: id)
    }

    /// The first reference to an object this process just created (for inlined generic code).
    @usableFromInline
    init(_created id: ObjectID) {
        self.id = id
        handle = RefHandle(id: id, created: true)
    }

    /// The value, waiting for it up to `timeout` (forever when nil).
    public func get(timeout: Duration? = nil) async throws -> T {
        try await ray.get(self, timeout: timeout)
    }

    /// Calls `body` once the value is ready (or failed) with the value or the typed error `get`
    /// would throw (Ray's `ObjectRef.future()` / `_on_completed`): no Swift task waits meanwhile.
    /// In the driver of an embedded cluster `body` runs at once when the value is there, else on
    /// the node's event-loop thread, so it must not block: hand longer work on (to your own event
    /// loop or a task). The reference is kept until `body` has run.
    ///
    /// ```swift
    /// ref.onCompletion { result in loop.execute { respond(with: result) } }
    /// ```
    public func onCompletion(_ body: @escaping @Sendable (Result<T, any Error>) -> Void) {
        guard let runtime = try? RuntimeRegistry.require() else { return body(.failure(RaySystemError.notStarted)) }
        runtime.whenReady(id) { payload in
            withExtendedLifetime(self) {
                guard let payload else { return body(.failure(ObjectLostError(message: "\(id) could not be fetched"))) }
                body(Result { try Ray.decode(T.self, payload) })
            }
        }
    }

    /// `ObjectRef<T>(id)`.
    public var description: String { "ObjectRef<\(T.self)>(\(id))" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    public init(from decoder: any Decoder) throws {
        self.init(id: try decoder.singleValueContainer().decode(ObjectID.self))
    }

    public func encode(to encoder: any Encoder) throws {
        (encoder.userInfo[.rayRefCollector] as? RefCollector)?.add(id, handle: handle)
        var container = encoder.singleValueContainer()
        try container.encode(id)
    }
}

/// Any `ObjectRef`, whatever its value type: for calls that take refs of different types together
/// (`ray.wait([countRef, nameRef])`).
public protocol ObjectRefProtocol: Sendable {
    /// The object's identifier.
    var id: ObjectID { get }
}

extension ObjectRef: ObjectRefProtocol {}

/// The result of a remote function that returns nothing.
public struct RayVoid: Codable, Sendable, Hashable {
    public init() {}
}

/// A finished object as it travels: encoded value or error (generated actor dispatch returns it).
public typealias ObjectPayload = RayWire.ObjectPayload
/// The identifier of tasks, objects and actors.
public typealias RayID = RayWire.RayID
/// What the node's object table holds.
public typealias ObjectStoreStats = RayWire.ObjectStoreStats
/// The task (or actor call) running in the current Swift task: id, name, attempt (`ray.taskContext`).
public typealias TaskContext = RayWorker.TaskContext
