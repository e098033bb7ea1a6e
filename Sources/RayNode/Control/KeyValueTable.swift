import RayWire

/// The cluster's key-value store (Ray's internal KV): values by namespace and key, owned by the
/// head's node manager and answered on its loop. A value type with no references to the rest of
/// the node, so it is tested on its own.
package struct KeyValueTable {
    private var spaces: [String: [String: [UInt8]]] = [:]

    package init() {}

    /// Applies one request and returns its reply.
    package mutating func apply(_ request: KVRequest) -> KVReply {
        switch request {
        case .put(let space, let key, let value, let overwrite):
            let exists = spaces[space]?[key] != nil
            if exists, !overwrite { return .added(false) }
            spaces[space, default: [:]][key] = value
            return .added(!exists)
        case .get(let space, let key):
            return .value(spaces[space]?[key])
        case .delete(let space, let key):
            return .deleted(spaces[space]?.removeValue(forKey: key) == nil ? 0 : 1)
        case .keys(let space, let prefix):
            return .keys((spaces[space] ?? [:]).keys.filter { $0.hasPrefix(prefix) }.sorted())
        }
    }

    /// The values of a namespace, by key order.
    package func values(in space: String, prefix: String = "") -> [[UInt8]] {
        (spaces[space] ?? [:]).filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map(\.value)
    }

    /// Keys stored, over every namespace.
    package var count: Int { spaces.values.reduce(0) { $0 + $1.count } }
}
