import RayWire

/// Objects this node holds: finished values and errors, and who waits for the rest.
struct ObjectTable {
    private enum Entry {
        case pending([(ObjectPayload) -> Void])
        case ready(ObjectPayload)
    }

    private var entries: [ObjectID: Entry] = [:]

    /// The object, if it is finished.
    func payload(_ id: ObjectID) -> ObjectPayload? {
        if case .ready(let payload) = entries[id] { return payload }
        return nil
    }

    var count: Int { entries.count }

    /// Calls `waiter` once the object is finished (at once if it is).
    mutating func whenReady(_ id: ObjectID, _ waiter: @escaping (ObjectPayload) -> Void) {
        switch entries[id] {
        case .ready(let payload):
            waiter(payload)
        case .pending(var waiters):
            entries[id] = nil
            waiters.append(waiter)
            entries[id] = .pending(waiters)
        case nil:
            entries[id] = .pending([waiter])
        }
    }

    /// Marks an object expected (a submitted task's result).
    mutating func expect(_ id: ObjectID) {
        if entries[id] == nil { entries[id] = .pending([]) }
    }

    /// Finishes an object; the first finish wins. Returns the waiters to call.
    mutating func finish(_ id: ObjectID, _ payload: ObjectPayload) -> [(ObjectPayload) -> Void] {
        switch entries[id] {
        case .ready:
            return []
        case .pending(let waiters):
            entries[id] = .ready(payload)
            return waiters
        case nil:
            entries[id] = .ready(payload)
            return []
        }
    }

    /// Forgets an object.
    mutating func remove(_ id: ObjectID) { entries[id] = nil }
}
