import NIOCore

/// Where a task or actor may be placed (Ray's `scheduling_strategy`).
public enum SchedulingStrategy: Sendable, Hashable, Codable {
    /// Pack: the head's node first, other nodes when it is full.
    case `default`
    /// Across nodes: each placement goes to the least loaded node that fits.
    case spread
    /// On one node; with `soft`, elsewhere when that node is gone or cannot fit it now.
    case nodeAffinity(nodeID: String, soft: Bool)
    /// Into a placement group's reserved bundle (`bundleIndex` -1: any of its bundles).
    case placementGroup(RayID, bundleIndex: Int)
}

/// How a placement group spreads its bundles over nodes.
public enum PlacementGroupStrategy: String, Sendable, Hashable, Codable {
    /// Bundles on as few nodes as possible.
    case pack = "PACK"
    /// Bundles on different nodes where possible.
    case spread = "SPREAD"
    /// All bundles on one node, or not at all.
    case strictPack = "STRICT_PACK"
    /// Each bundle on a different node, or not at all.
    case strictSpread = "STRICT_SPREAD"
}

/// A placement group to create: resource bundles reserved together.
public struct PlacementGroupSpec: Sendable, Hashable, Codable {
    public var id: RayID
    public var bundles: [[String: Double]]
    public var strategy: PlacementGroupStrategy
    public var name: String
    /// Kept across a head crash (Ray's `lifetime="detached"`): the head's state store records it.
    public var detached: Bool

    public init(id: RayID, bundles: [[String: Double]], strategy: PlacementGroupStrategy, name: String, detached: Bool = false) {
        self.id = id
        self.bundles = bundles
        self.strategy = strategy
        self.name = name
        self.detached = detached
    }
}

/// Placement group operations, answered by `requestDone` (an error, or nil).
public enum PlacementGroupRequest: Sendable, Hashable, Codable {
    case create(PlacementGroupSpec)
    /// Wait until its bundles are reserved, up to `timeoutMillis` (-1: forever).
    case wait(RayID, timeoutMillis: Int64)
    case remove(RayID)
}

extension ByteBuffer {
    mutating func writeStrategy(_ strategy: SchedulingStrategy) {
        switch strategy {
        case .default:
            writeInteger(UInt8(0))
        case .spread:
            writeInteger(UInt8(1))
        case .nodeAffinity(let nodeID, let soft):
            writeInteger(UInt8(2))
            writeWireString(nodeID)
            writeBool(soft)
        case .placementGroup(let id, let bundleIndex):
            writeInteger(UInt8(3))
            writeID(id)
            writeFixed(Int64(bundleIndex))
        }
    }

    mutating func readStrategy() throws -> SchedulingStrategy {
        switch try readFixed(UInt8.self) {
        case 0: return .default
        case 1: return .spread
        case 2: return .nodeAffinity(nodeID: try readWireString(), soft: try readBool())
        case 3: return .placementGroup(try readID(), bundleIndex: Int(try readFixed(Int64.self)))
        case let tag: throw WireError.malformed("unknown scheduling strategy \(tag)")
        }
    }
}
