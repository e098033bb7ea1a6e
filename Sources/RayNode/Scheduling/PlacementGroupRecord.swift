import RayWire

/// One reserved bundle of a placement group: resources set aside on a node for the group's tasks
/// and actors. Confined to the node manager's loop.
final class BundleRecord {
    package let node: NodeRecord
    let reserved: ResourceSet
    /// What the group's running tasks and live actors leave free in it.
    package var available: ResourceSet
    /// The group was removed: leases that come back go to the node instead.
    var removed = false

    init(node: NodeRecord, reserved: ResourceSet) {
        self.node = node
        self.reserved = reserved
        available = reserved
    }
}

/// A placement group: its bundles once reserved, and who waits for that.
final class PlacementGroupRecord {
    let spec: PlacementGroupSpec
    /// Empty until every bundle is reserved (all at once, or none).
    var bundles: [BundleRecord] = []
    var removed = false
    /// Restored by a restarted head: not placed before the recovery window ends, so that the
    /// actors and tasks of the group that outlived the old head pin its bundles to their nodes.
    var heldUntilRecovered = false
    /// Called with nil once placed, or with an error if removed first.
    var waiters: [(ErrorInfo?) -> Void] = []

    init(spec: PlacementGroupSpec) { self.spec = spec }

    var isPlaced: Bool { !bundles.isEmpty }
}
