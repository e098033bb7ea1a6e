import RayWire

/// Where a lease's resources come from: a node's free resources, or a placement group's bundle.
enum LeaseTarget {
    case node(NodeRecord)
    case bundle(BundleRecord)

    package var node: NodeRecord {
        switch self {
        case .node(let node): node
        case .bundle(let bundle): bundle.node
        }
    }

    package var available: ResourceSet {
        switch self {
        case .node(let node): node.available
        case .bundle(let bundle): bundle.available
        }
    }

    func take(_ amounts: ResourceSet) {
        switch self {
        case .node(let node): node.available.subtract(amounts)
        case .bundle(let bundle): bundle.available.subtract(amounts)
        }
    }

    /// Gives amounts back (to the node when the bundle's group is gone).
    func give(_ amounts: ResourceSet) {
        switch self {
        case .node(let node): node.available.add(amounts)
        case .bundle(let bundle) where bundle.removed: bundle.node.available.add(amounts)
        case .bundle(let bundle): bundle.available.add(amounts)
        }
    }
}
