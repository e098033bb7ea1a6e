/// What the node's object table holds.
public struct ObjectStoreStats: Sendable, Equatable {
    /// Objects tracked (finished or pending).
    public var objects: Int
    /// Bytes of finished values.
    public var bytes: Int
    /// Objects, and their bytes, in the shared-memory store (one copy per node).
    public var sharedObjects: Int
    public var sharedBytes: Int
    /// Objects, and their bytes, spilled from the store to disk.
    public var spilledObjects: Int
    public var spilledBytes: Int
    /// Bytes the store holds in memory before it spills.
    public var capacity: Int
    /// Finished objects kept alive by pending tasks, calls or containing objects, and their bytes.
    public var pinnedObjects: Int = 0
    public var pinnedBytes: Int = 0
    /// Shared objects held only in other nodes' stores (pulled here on demand), and their bytes.
    public var remoteObjects: Int = 0
    public var remoteBytes: Int = 0

    public init(
        objects: Int, bytes: Int, sharedObjects: Int, sharedBytes: Int, spilledObjects: Int, spilledBytes: Int, capacity: Int
    ) {
        self.objects = objects
        self.bytes = bytes
        self.sharedObjects = sharedObjects
        self.sharedBytes = sharedBytes
        self.spilledObjects = spilledObjects
        self.spilledBytes = spilledBytes
        self.capacity = capacity
    }

    /// Bytes of the store's memory in use (`sharedBytes`).
    public var used: Int { sharedBytes }
}
