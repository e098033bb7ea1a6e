import RayWire

/// The cluster's placement groups by id, and the order in which waiting groups get their bundles.
///
/// A group is reserved all at once or not at all, from what the live nodes leave free, under its
/// strategy: PACK prefers nodes already chosen, SPREAD prefers new ones, STRICT_PACK needs one node
/// for the sum of its bundles, STRICT_SPREAD one distinct node per bundle (Ray's semantics).
struct PlacementGroups {
    private var byID: [RayID: PlacementGroupRecord] = [:]
    /// Groups waiting for their bundles, in creation order.
    private(set) var waiting: [RayID] = []

    subscript(id: RayID) -> PlacementGroupRecord? { byID[id] }
    var all: Dictionary<RayID, PlacementGroupRecord>.Values { byID.values }

    /// Registers a group; it waits until `placeWaiting` finds room for every bundle.
    mutating func add(_ spec: PlacementGroupSpec) {
        byID[spec.id] = PlacementGroupRecord(spec: spec)
        waiting.append(spec.id)
    }

    /// Reserves the bundles of waiting groups that fit on `live` now, in creation order (a group
    /// that does not fit does not hold back later ones); returns the groups placed. A group's
    /// `strays` put their bundles on their nodes and move into them.
    mutating func placeWaiting(on live: [NodeRecord], strays: [RayID: [StrayLease]] = [:]) -> [PlacementGroupRecord] {
        var placed: [PlacementGroupRecord] = []
        waiting.removeAll { id in
            guard let group = byID[id], !group.removed else { return true }
            guard !group.heldUntilRecovered else { return false }
            let leases = strays[id] ?? []
            for lease in leases { lease.node.available.add(lease.amounts) }  // counted in its bundle instead
            guard let nodes = Self.bundleNodes(group.spec, live: live, pinned: StrayLease.pins(leases)) else {
                for lease in leases { lease.node.available.subtract(lease.amounts) }
                return false
            }
            group.bundles = zip(group.spec.bundles, nodes).map { bundle, node in
                node.available.subtract(bundle)
                return BundleRecord(node: node, reserved: bundle)
            }
            for lease in leases { lease.settle(in: group.bundles) }
            placed.append(group)
            return true
        }
        return placed
    }

    /// A node for each bundle under the group's strategy, from what is free now (`pinned` bundles
    /// on their node when it has room); nil if it cannot.
    static func bundleNodes(_ spec: PlacementGroupSpec, live: [NodeRecord], pinned: [Int: NodeRecord] = [:]) -> [NodeRecord]? {
        var free = live.map(\.available)
        let pinnedIndices = pinned.isEmpty ? [] : pinned.sorted { $0.key < $1.key }.compactMap { entry in
            live.firstIndex { $0 === entry.value }.map { (bundle: entry.key, node: $0) }
        }
        if spec.strategy == .strictPack {
            let sum = spec.bundles.reduce(into: ResourceSet()) { $0.add($1) }
            let candidates = pinnedIndices.map(\.node) + Array(live.indices)
            guard let index = candidates.first(where: { free[$0].fits(sum) }) else { return nil }
            return spec.bundles.map { _ in live[index] }
        }
        var chosen = [Int?](repeating: nil, count: spec.bundles.count)
        for pin in pinnedIndices where pin.bundle < spec.bundles.count && free[pin.node].fits(spec.bundles[pin.bundle]) {
            if spec.strategy == .strictSpread, chosen.contains(pin.node) { continue }
            free[pin.node].subtract(spec.bundles[pin.bundle])
            chosen[pin.bundle] = pin.node
        }
        for (position, bundle) in spec.bundles.enumerated() where chosen[position] == nil {
            let fitting = live.indices.filter { free[$0].fits(bundle) }
            let preferred: Int?
            switch spec.strategy {
            case .pack, .strictPack: preferred = fitting.first { chosen.contains($0) } ?? fitting.first
            case .spread: preferred = fitting.first { !chosen.contains($0) } ?? fitting.first
            case .strictSpread: preferred = fitting.first { !chosen.contains($0) }
            }
            guard let index = preferred else { return nil }
            free[index].subtract(bundle)
            chosen[position] = index
        }
        return chosen.map { live[$0!] }
    }

    /// Why a group could never be placed on the live nodes, however long it waited, nor on nodes
    /// of the types the autoscaler may add (`nodeTypes`: their resources); nil if it can.
    static func problem(_ spec: PlacementGroupSpec, live: [NodeRecord], nodeTypes: [ResourceSet] = []) -> String? {
        let shapes = live.map(\.total) + nodeTypes
        for bundle in spec.bundles where !shapes.contains(where: { $0.fits(bundle) }) {
            return "bundle \(bundle.summary) fits on no node"
        }
        if spec.strategy == .strictSpread, spec.bundles.count > live.count, nodeTypes.isEmpty {
            return "STRICT_SPREAD needs \(spec.bundles.count) nodes; the cluster has \(live.count)"
        }
        if spec.strategy == .strictPack {
            let sum = spec.bundles.reduce(into: ResourceSet()) { $0.add($1) }
            if !shapes.contains(where: { $0.fits(sum) }) { return "STRICT_PACK needs one node with \(sum.summary)" }
        }
        return nil
    }
}

/// A lease that work of a placement group holds from a node instead of the group's bundle: an
/// actor or task that outlived a head and re-attached before its group was reserved again. The
/// group's bundle goes on that node and the lease moves into it, so the node does not count the
/// same resources twice and the group keeps its place.
struct StrayLease {
    /// Its bundle (-1: any of the group's).
    let bundleIndex: Int
    let node: NodeRecord
    let amounts: ResourceSet
    /// Makes the bundle the lease's target.
    let moveInto: (BundleRecord) -> Void

    /// The bundles these leases hold their nodes for.
    static func pins(_ leases: [StrayLease]) -> [Int: NodeRecord] {
        var pins: [Int: NodeRecord] = [:]
        for lease in leases where lease.bundleIndex >= 0 && pins[lease.bundleIndex] == nil { pins[lease.bundleIndex] = lease.node }
        return pins
    }

    /// Takes the lease from its bundle among `bundles` when one on its node has room, else from the
    /// node again.
    func settle(in bundles: [BundleRecord]) {
        let candidates = bundleIndex >= 0 ? (bundleIndex < bundles.count ? [bundles[bundleIndex]] : []) : bundles
        guard let bundle = candidates.first(where: { $0.node === node && $0.available.fits(amounts) }) else {
            return node.available.subtract(amounts)
        }
        bundle.available.subtract(amounts)
        moveInto(bundle)
    }
}
