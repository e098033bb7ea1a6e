import RayWire

/// The actors a node manager knows: by id, by name within a namespace, and those waiting for
/// resources in creation order.
///
/// A name belongs to one live actor at a time; it is free again once that actor is dead (not merely
/// restarting), as in Ray.
struct ActorDirectory {
    private var byID: [RayID: ActorRecord] = [:]
    private var names: [ActorNameKey: RayID] = [:]
    /// Actors waiting for resources, oldest first (may hold ids placed or dead since).
    private(set) var pending: [RayID] = []

    subscript(id: RayID) -> ActorRecord? { byID[id] }
    var all: Dictionary<RayID, ActorRecord>.Values { byID.values }

    /// Whether a live actor already has the name `spec` asks for.
    func nameTaken(by spec: ActorSpec) -> Bool {
        guard !spec.name.isEmpty, let id = names[ActorNameKey(namespace: spec.namespace, name: spec.name)] else { return false }
        return byID[id].map { !$0.isDead } ?? false
    }

    /// Registers a new actor under its id, and its name if it has one.
    mutating func add(_ record: ActorRecord) {
        byID[record.id] = record
        if !record.spec.name.isEmpty { names[Self.key(record.spec)] = record.id }
    }

    /// The live actor named so in `namespace`, unless every handle to it is gone.
    func named(_ name: String, namespace: String) -> ActorRecord? {
        guard let id = names[ActorNameKey(namespace: namespace, name: name)], let record = byID[id],
              !record.isDead, !record.outOfScope else { return nil }
        return record
    }

    /// The actor died for good: its name is free.
    mutating func releaseName(of record: ActorRecord) {
        let key = Self.key(record.spec)
        if names[key] == record.id { names[key] = nil }
    }

    /// The actor waits for resources.
    mutating func waitForResources(_ record: ActorRecord) {
        pending.append(record.id)
    }

    /// The actors still waiting for resources, oldest first; the waiting list is emptied (those that
    /// still do not fit wait again).
    mutating func takePending() -> [ActorRecord] {
        defer { pending = [] }
        return pending.compactMap { byID[$0] }.filter { $0.state == .pending }
    }

    private static func key(_ spec: ActorSpec) -> ActorNameKey {
        ActorNameKey(namespace: spec.namespace, name: spec.name)
    }
}

/// Named actors are unique per namespace.
struct ActorNameKey: Hashable {
    let namespace: String
    let name: String
}
