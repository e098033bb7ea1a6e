import NIOCore
import RayWire

/// The refs inside objects kept in other nodes' stores, across a head restart. Such an object
/// outlives the head in its node's store, but the refs it contains lived only in the head's
/// record of it: without them, the objects it points to are freed once the restarted head's
/// adoption grace ends, though a reader of the object still needs them. The head writes them
/// through to its state store; a restarted head gives them back as the nodes report the objects.
struct KeptContainedRefs {
    /// What the previous head recorded, by object, until the object's node reports it.
    var restored: [ObjectID: [ObjectID]] = [:]
    /// Pins owed to objects not reported yet by the adopted objects that contain them.
    var owedPins: [ObjectID: Int] = [:]
    /// The objects whose refs are in the state store.
    var recorded: Set<ObjectID> = []

    /// Cancels one pin owed to `id`; false if none was owed (the pin is on the object).
    mutating func cancelOwedPin(_ id: ObjectID) -> Bool {
        guard let owed = owedPins[id] else { return false }
        owedPins[id] = owed > 1 ? owed - 1 : nil
        return true
    }
}

extension NodeManager {
    /// How long refs a previous head recorded wait for their object's node to rejoin.
    static let restoredRefsKept: Duration = .seconds(300)

    /// Restores the refs a previous head recorded inside objects kept in other nodes' stores (call
    /// before serving); those whose object was not reported within `restoredRefsKept` are forgotten.
    package func restoreContainedRefs(_ entries: [(object: ObjectID, refs: [ObjectID])]) {
        loop.assertInEventLoop()
        for entry in entries { keptContained.restored[entry.object] = entry.refs }
        guard !entries.isEmpty else { return }
        loop.scheduleTask(in: TimeAmount(Self.restoredRefsKept)) { [self] in
            for (id, _) in keptContained.restored where !objects.contains(id) { containedRefsChanged?(id, nil) {} }
            keptContained.restored = [:]
        }
    }

    /// Records the refs a result kept in another node's store contains (the head writes them
    /// through), and has `waiters` hear of it once they are stored, holding it until then.
    /// - Returns: false when there is nothing to record (the waiters are the caller's to tell).
    func tellOnceRefsStored(_ id: ObjectID, _ payload: ObjectPayload, _ waiters: [(ObjectPayload) -> Void]) -> Bool {
        guard let changed = containedRefsChanged, !payload.containedRefs.isEmpty else { return false }
        keptContained.recorded.insert(id)
        objects.addHolder(id)
        changed(id, payload.containedRefs, onLoop { [self] in
            for waiter in waiters { waiter(payload) }
            if objects.releaseHolder(id) { freeIfUnused([id]) }
        })
        return true
    }

    /// The refs a previous head recorded inside `id`, which a rejoining node reported: those not
    /// reported yet are owed their pin until they are.
    func adoptedContainedRefs(of id: ObjectID) -> [ObjectID] {
        let refs = keptContained.restored.removeValue(forKey: id) ?? []
        for ref in refs where !objects.contains(ref) { keptContained.owedPins[ref, default: 0] += 1 }
        return refs
    }

    /// Pins an adopted object as often as adopted objects reported before it contain it.
    func payOwedPins(to id: ObjectID) {
        guard let owed = keptContained.owedPins.removeValue(forKey: id) else { return }
        for _ in 0..<owed { objects.pin(id) }
    }

    /// An object freed or reset: its contained refs lose its pins (or owed ones are cancelled) and
    /// its record leaves the state store. Returns the refs unpinned, to free if nothing else keeps them.
    func releaseContainedRefs(of id: ObjectID, _ payload: ObjectPayload) -> [ObjectID] {
        let contained = payload.containedRefs
        guard !contained.isEmpty else { return [] }  // most objects: nothing to look up
        if keptContained.recorded.remove(id) != nil { containedRefsChanged?(id, nil) {} }
        var unpinned: [ObjectID] = []
        for ref in contained where !keptContained.cancelOwedPin(ref) {
            objects.unpin(ref)
            unpinned.append(ref)
        }
        return unpinned
    }
}
