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
    /// that does not fit does not hold back later ones); returns the groups placed.
    mutating func placeWaiting(on live: [NodeRecord]) -> [PlacementGroupRecord] {
        var placed: [PlacementGroupRecord] = []
        waiting.removeAll { id in
            guard let group = byID[id], !group.removed else { return true }
            guard let nodes = Self.bundleNodes(group.spec, live: live) else { return false }
            group.bundles = zip(group.spec.bundles, nodes).map { bundle, node in
                node.available.subtract(bundle)
                return BundleRecord(node: node, reserved: bundle)
            }
            placed.append(group)
            return true
        }
        return placed
    }

    /// A node for each bundle under the group's strategy, from what is free now; nil if it cannot.
    static func bundleNodes(_ spec: PlacementGroupSpec, live: [NodeRecord]) -> [NodeRecord]? {
        var free = live.map(\.available)
        if spec.strategy == .strictPack {
            let sum = spec.bundles.reduce(into: ResourceSet()) { $0.add($1) }
            guard let index = live.indices.first(where: { free[$0].fits(sum) }) else { return nil }
            return spec.bundles.map { _ in live[index] }
        }
        var chosen: [Int] = []
        for bundle in spec.bundles {
            let fitting = live.indices.filter { free[$0].fits(bundle) }
            let preferred: Int?
            switch spec.strategy {
            case .pack, .strictPack: preferred = fitting.first { chosen.contains($0) } ?? fitting.first
            case .spread: preferred = fitting.first { !chosen.contains($0) } ?? fitting.first
            case .strictSpread: preferred = fitting.first { !chosen.contains($0) }
            }
            guard let index = preferred else { return nil }
            free[index].subtract(bundle)
            chosen.append(index)
        }
        return chosen.map { live[$0] }
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
