import SwiftRay

/// A dataset handed to every worker: rows put once in the object store, each worker reading
/// only its contiguous shard (Ray's `datasets=` and `get_dataset_shard`), or one value per worker
/// (a SwiftRayData streaming split's iterators, read with `TrainContext.streamingShard`). The
/// trainer holds it, and so its object, for as long as it runs.
public struct TrainDataset: Sendable, Codable {
    /// The rows' object (typed again by the worker that reads it).
    let rows: ObjectRef<RayVoid>?
    /// How many rows it holds (shards: how many there are).
    public let count: Int
    /// One value per worker rank, each its own object.
    let shards: [ObjectRef<RayVoid>]?
    /// The driver's ref, which keeps the object alive (not sent to workers).
    private let owner: (any Sendable)?

    /// Puts `rows` in the object store.
    public init<Row: Codable & Sendable>(_ rows: [Row]) throws {
        let ref = try ray.put(rows)
        self.rows = ObjectRef(id: ref.id)
        count = rows.count
        shards = nil
        owner = ref
    }

    /// One value per worker, rank `i` getting `shards[i]` (as many as `ScalingConfig.numWorkers`):
    /// `TrainDataset(shards: try await dataset.streamingSplit(4))`.
    public init<Shard: Codable & Sendable>(shards: [Shard]) throws {
        let refs = try shards.map { try ray.put($0) }
        self.shards = refs.map { ObjectRef(id: $0.id) }
        count = shards.count
        rows = nil
        owner = refs
    }

    private enum CodingKeys: String, CodingKey { case rows, count, shards }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rows = try container.decodeIfPresent(ObjectRef<RayVoid>.self, forKey: .rows)
        count = try container.decode(Int.self, forKey: .count)
        shards = try container.decodeIfPresent([ObjectRef<RayVoid>].self, forKey: .shards)
        owner = nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(rows, forKey: .rows)
        try container.encode(count, forKey: .count)
        try container.encodeIfPresent(shards, forKey: .shards)
    }

    /// Worker `rank`'s contiguous share of `count` rows (the first `count % worldSize` workers take
    /// one row more).
    static func shard(count: Int, rank: Int, worldSize: Int) -> Range<Int> {
        let base = count / worldSize, extra = count % worldSize
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }
}
