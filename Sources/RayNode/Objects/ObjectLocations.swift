import RayWire

/// How making a copy ended.
package enum CopyResult {
    case copied
    /// The receiving store could not take it.
    case failed(String)
    /// No live node could provide it (its holders died or lost it): it is being rebuilt or is lost.
    case sourceLost(String)
}

/// Which nodes' stores hold a copy of each shared object, and the copies being made.
///
/// An object with no entry lives only in this node's store (the common case on one machine, and
/// what keeps the table empty there). An entry lists every node holding a sealed copy, this one
/// included when it has one. A copy to a node is pulled once however many wait for it.
struct ObjectLocations {
    /// A copy being made: where from, and who waits for it.
    private struct Pull {
        let source: NodeRecord
        var waiters: [(CopyResult) -> Void]
    }

    private struct PullKey: Hashable {
        let id: ObjectID
        let node: ObjectIdentifier
    }

    private var copies: [ObjectID: [NodeRecord]] = [:]
    private var pulls: [PullKey: Pull] = [:]

    /// Whether every shared object is only in this node's store.
    var allLocal: Bool { copies.isEmpty }

    /// The nodes holding the object, if any node but this one does.
    func holders(_ id: ObjectID) -> [NodeRecord]? { copies[id] }

    /// Every object with copies on other nodes, with its holders.
    var remote: [ObjectID: [NodeRecord]] { copies }

    /// Whether `node`'s store holds the object.
    func has(_ id: ObjectID, on node: NodeRecord) -> Bool {
        guard let nodes = copies[id] else { return node.isLocal }
        return nodes.contains { $0 === node }
    }

    /// A process on another node stored the object there: that is its only copy.
    mutating func storedRemotely(_ id: ObjectID, on node: NodeRecord) {
        copies[id] = [node]
    }

    /// A copy of the object reached `node`'s store; `local` held the original if no entry says otherwise.
    mutating func copied(_ id: ObjectID, to node: NodeRecord, local: NodeRecord) {
        copies[id, default: [local]].append(node)
    }

    /// `node` no longer provides the object; returns whether no copy is left anywhere.
    mutating func lost(_ id: ObjectID, on node: NodeRecord, local: NodeRecord) -> Bool {
        let rest = (copies[id] ?? [local]).filter { $0 !== node }
        copies[id] = rest.isEmpty ? nil : rest
        return rest.isEmpty
    }

    /// Forgets the object's copies (it was freed); returns the nodes that held one, or nil if only
    /// this node did.
    mutating func removeAll(_ id: ObjectID) -> [NodeRecord]? {
        copies.removeValue(forKey: id)
    }

    /// A node died: its copies are gone. Returns the objects it held the last copy of, and the
    /// objects whose copies to it were being made.
    mutating func nodeDied(_ node: NodeRecord) -> (lastCopies: [ObjectID], pullsTo: [ObjectID]) {
        let pullsTo = pulls.keys.filter { $0.node == ObjectIdentifier(node) }.map(\.id)
        var lastCopies: [ObjectID] = []
        for (id, nodes) in copies where nodes.contains(where: { $0 === node }) {
            let rest = nodes.filter { $0 !== node }
            copies[id] = rest.isEmpty ? nil : rest
            if rest.isEmpty { lastCopies.append(id) }
        }
        return (lastCopies, pullsTo)
    }

    /// Adds `waiter` to the copy of the object to `node` under way; false if there is none.
    mutating func joinPull(_ id: ObjectID, to node: NodeRecord, waiter: @escaping (CopyResult) -> Void) -> Bool {
        let key = PullKey(id: id, node: ObjectIdentifier(node))
        guard pulls[key] != nil else { return false }
        pulls[key]!.waiters.append(waiter)
        return true
    }

    /// Records a copy of the object to `node` from `source` that the caller starts.
    mutating func startPull(_ id: ObjectID, to node: NodeRecord, from source: NodeRecord, waiter: @escaping (CopyResult) -> Void) {
        pulls[PullKey(id: id, node: ObjectIdentifier(node))] = Pull(source: source, waiters: [waiter])
    }

    /// The copy to `node` ended: returns where it came from and who waited.
    mutating func endPull(_ id: ObjectID, to node: NodeRecord) -> (source: NodeRecord, waiters: [(CopyResult) -> Void])? {
        pulls.removeValue(forKey: PullKey(id: id, node: ObjectIdentifier(node))).map { ($0.source, $0.waiters) }
    }
}
