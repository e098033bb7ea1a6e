import RayWire

/// A future: the typed reference to an object in the cluster, returned at once by `.remote(...)`
/// and `ray.put`. Pass it to other tasks (they receive the value) or `get` it.
public struct ObjectRef<T: Codable & Sendable>: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The object's identifier.
    public let id: ObjectID

    /// Wraps an identifier; the runtime makes refs, users rarely need to.
    public init(id: ObjectID) { self.id = id }

    /// The value, waiting for it up to `timeout` (forever when nil).
    public func get(timeout: Duration? = nil) async throws -> T {
        try await ray.get(self, timeout: timeout)
    }

    public var description: String { "ObjectRef<\(T.self)>(\(id))" }
}

/// The result of a remote function that returns nothing.
public struct RayVoid: Codable, Sendable, Hashable {
    public init() {}
}

/// A finished object as it travels: encoded value or error (generated actor dispatch returns it).
public typealias ObjectPayload = RayWire.ObjectPayload
/// The identifier of tasks, objects and actors.
public typealias RayID = RayWire.RayID
