import RayWire

/// The identity of a Ray actor, and one counted handle to it.
///
/// Every proxy of a remote actor keeps its id, so the id is where handles are counted: creating an
/// actor or finding it by name gives the first handle, decoding a handle (in any process) adds one,
/// and the last copy of each id going away releases it. When no handle remains anywhere (and no
/// pending task's arguments or live object contains one), a non-detached actor stops after its
/// queued calls, as in Ray.
public struct RayActorID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The actor's identifier in the cluster.
    public let raw: RayID
    private let handle: RefHandle?

    /// An id that counts as no handle (the hosted actor's own, before it exists elsewhere).
    init(uncounted raw: RayID) {
        self.raw = raw
        handle = nil
    }

    /// The id of a handle the node already counts for this process (creation, lookup by name).
    init(counted raw: RayID) {
        self.raw = raw
        handle = RefHandle(id: raw, created: true)
    }

    public var description: String { "actor \(raw)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.raw == rhs.raw }
    public func hash(into hasher: inout Hasher) { hasher.combine(raw) }

    public init(from decoder: any Decoder) throws {
        raw = try decoder.singleValueContainer().decode(RayID.self)
        handle = RefHandle(id: raw, created: false)
    }

    public func encode(to encoder: any Encoder) throws {
        (encoder.userInfo[.rayRefCollector] as? RefCollector)?.add(raw, handle: handle)
        var container = encoder.singleValueContainer()
        try container.encode(raw)
    }
}
