import RayWire

/// Objects this node holds: finished values and errors, who waits for the rest, and what keeps
/// each alive.
///
/// An object lives while a process holds a reference to it (`holders`: its creator from the start,
/// then every process that decoded a ref to it), while a pending task or call needs it, or while
/// another live object contains it (`pins`). When both counts reach zero it is freed, and the
/// objects it contains lose a pin.
///
/// Actor handles are counted here too, as value-less records under the actor's id: processes hold
/// them and objects contain them exactly as they do refs, and the actor goes when the record is freed.
struct ObjectTable {
    private enum State {
        case pending([(ObjectPayload) -> Void])
        case ready(ObjectPayload)
    }

    private struct Record {
        var state: State
        var holders = 0
        var pins = 0
        /// Its shared-memory file was moved to the spill folder.
        var spilled = false
        /// Its shared-memory file is only in other nodes' stores.
        var remote = false
        /// It counts the handles of the actor with this id, not an object.
        var isActorHandle = false
    }

    private var records: [ObjectID: Record] = [:]
    /// Bytes held by ready values, and of those, the ones in shared memory.
    private(set) var bytes = 0
    private(set) var sharedBytes = 0
    private(set) var sharedObjects = 0
    /// Shared objects moved to disk.
    private(set) var spilledBytes = 0
    private(set) var spilledObjects = 0
    /// Shared objects held only in other nodes' stores.
    private(set) var remoteBytes = 0
    private(set) var remoteObjects = 0

    /// Actor handle records among `records`.
    private var actorHandles = 0

    /// Objects (not actor handles) in the table.
    var count: Int { records.count - actorHandles }

    /// The object, if it is finished.
    func payload(_ id: ObjectID) -> ObjectPayload? {
        if case .ready(let payload)? = records[id]?.state { return payload }
        return nil
    }

    func contains(_ id: ObjectID) -> Bool { records[id] != nil }

    /// Registers `waiter` for when the object finishes; if it already has, returns its payload
    /// instead (the caller calls the waiter, outside this mutation).
    mutating func whenReady(_ id: ObjectID, _ waiter: @escaping (ObjectPayload) -> Void) -> ObjectPayload? {
        guard var record = records[id] else {
            records[id] = Record(state: .pending([waiter]))
            return nil
        }
        switch record.state {
        case .ready(let payload):
            return payload
        case .pending(var waiters):
            record.state = .pending([])
            waiters.append(waiter)
            record.state = .pending(waiters)
            records[id] = record
            return nil
        }
    }

    /// A new object, held by its creator.
    mutating func create(_ id: ObjectID) {
        if records[id] == nil { records[id] = Record(state: .pending([])) }
        records[id]!.holders += 1
    }

    /// Finishes an object; the first finish wins. Returns the waiters to call, and whether the value
    /// is new (so its contained refs need pinning).
    mutating func finish(_ id: ObjectID, _ payload: ObjectPayload) -> (waiters: [(ObjectPayload) -> Void], isNew: Bool) {
        guard var record = records[id] else {
            records[id] = Record(state: .ready(payload))
            account(payload, +1)
            return ([], true)
        }
        guard case .pending(let waiters) = record.state else { return ([], false) }
        record.state = .ready(payload)
        records[id] = record
        account(payload, +1)
        return (waiters, true)
    }

    /// Starts counting the handles of a new actor, held by its creator.
    mutating func createActorHandle(_ id: RayID) {
        guard records[id] == nil else { return }
        records[id] = Record(state: .ready(.value(EncodedValue(bytes: []))), holders: 1, isActorHandle: true)
        actorHandles += 1
    }

    /// Counts one more holder; false if the table has no such object.
    @discardableResult
    mutating func addHolder(_ id: ObjectID) -> Bool {
        (records[id]?.holders += 1) != nil
    }
    mutating func removeHolder(_ id: ObjectID) { records[id]?.holders -= 1 }

    /// Counts one holder less; returns whether the object may now be unused (worth `freeIfUnused`).
    mutating func releaseHolder(_ id: ObjectID) -> Bool {
        guard let index = records.index(forKey: id) else { return false }
        records.values[index].holders -= 1
        return records.values[index].holders <= 0 && records.values[index].pins <= 0
    }
    mutating func pin(_ id: ObjectID) { records[id]?.pins += 1 }
    mutating func unpin(_ id: ObjectID) { records[id]?.pins -= 1 }

    /// Removes the object if it is finished and nothing keeps it; returns its payload, whether it
    /// was spilled, and whether it was an actor's handle count, if removed.
    mutating func freeIfUnused(_ id: ObjectID) -> (payload: ObjectPayload, spilled: Bool, isActorHandle: Bool)? {
        guard let index = records.index(forKey: id) else { return nil }
        let record = records.values[index]
        guard record.holders <= 0, record.pins <= 0, case .ready(let payload) = record.state else { return nil }
        records.remove(at: index)
        if record.isActorHandle { actorHandles -= 1 }
        account(payload, -1, spilled: record.spilled, remote: record.remote)
        return (payload, record.spilled, record.isActorHandle)
    }

    /// Every object (not actor handles), for the state API.
    func entries() -> [(id: ObjectID, size: Int, location: String, holders: Int, pins: Int)] {
        records.compactMap { id, record in
            guard !record.isActorHandle else { return nil }
            switch record.state {
            case .pending: return (id, 0, "pending", record.holders, record.pins)
            case .ready(let payload):
                let location: String
                if case .error = payload { location = "error" }
                else if record.spilled { location = "spilled" }
                else if record.remote { location = "remote" }
                else if payload.sharedObject != nil { location = "shared-memory" }
                else { location = "inline" }
                return (id, payload.size, location, record.holders, record.pins)
            }
        }
    }

    /// The table's figures, for a store of `capacity` bytes.
    func stats(capacity: Int) -> ObjectStoreStats {
        var stats = ObjectStoreStats(
            objects: count, bytes: bytes, sharedObjects: sharedObjects, sharedBytes: sharedBytes,
            spilledObjects: spilledObjects, spilledBytes: spilledBytes, capacity: capacity)
        stats.remoteObjects = remoteObjects
        stats.remoteBytes = remoteBytes
        for record in records.values where record.pins > 0 && !record.isActorHandle {
            guard case .ready(let payload) = record.state else { continue }
            stats.pinnedObjects += 1
            stats.pinnedBytes += payload.size
        }
        return stats
    }

    /// Whether the object is finished, in this node's shared memory and not spilled yet.
    func isInSharedMemory(_ id: ObjectID) -> Bool {
        guard let record = records[id], !record.spilled, !record.remote, case .ready(let payload) = record.state else { return false }
        return payload.sharedObject != nil
    }

    /// Whether the object's only copies are in other nodes' stores.
    func isRemote(_ id: ObjectID) -> Bool { records[id]?.remote ?? false }

    /// The finished shared object is held only by other nodes (`remote`), or has a copy here too.
    mutating func setRemote(_ id: ObjectID, _ remote: Bool) {
        guard let record = records[id], record.remote != remote, !record.spilled, case .ready(let payload) = record.state,
              payload.sharedObject != nil else { return }
        account(payload, -1, remote: record.remote)
        records[id]!.remote = remote
        account(payload, +1, remote: remote)
    }

    /// Makes a finished object pending again (it is being rebuilt); returns the payload it had.
    mutating func reset(_ id: ObjectID) -> ObjectPayload? {
        guard let record = records[id], case .ready(let payload) = record.state else { return nil }
        account(payload, -1, spilled: record.spilled, remote: record.remote)
        records[id]!.state = .pending([])
        records[id]!.spilled = false
        records[id]!.remote = false
        return payload
    }

    /// The object's file went to the spill folder.
    mutating func markSpilled(_ id: ObjectID) {
        guard isInSharedMemory(id), case .ready(let payload)? = records[id]?.state else { return }
        account(payload, -1, spilled: false)
        records[id]!.spilled = true
        account(payload, +1, spilled: true)
    }

    private mutating func account(_ payload: ObjectPayload, _ sign: Int, spilled: Bool = false, remote: Bool = false) {
        if !spilled { bytes += sign * payload.size }
        guard payload.sharedObject != nil else { return }
        if remote {
            remoteBytes += sign * payload.size
            remoteObjects += sign
        } else if spilled {
            spilledBytes += sign * payload.size
            spilledObjects += sign
        } else {
            sharedBytes += sign * payload.size
            sharedObjects += sign
        }
    }
}
