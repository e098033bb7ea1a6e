import Foundation

/// What the autoscaler may launch (Ray's `available_node_types` and `idle_timeout_minutes`, or
/// KubeRay's worker groups with `minReplicas`/`maxReplicas` and `idleTimeoutSeconds`).
package struct AutoscalerConfig: Codable, Sendable, Equatable {
    /// A kind of node: what each offers, and how many may run.
    package struct NodeType: Codable, Sendable, Equatable {
        package var name: String
        package var resources: [String: Double]
        package var minWorkers: Int
        package var maxWorkers: Int

        package init(name: String, resources: [String: Double], minWorkers: Int = 0, maxWorkers: Int) {
            self.name = name
            self.resources = resources
            self.minWorkers = minWorkers
            self.maxWorkers = maxWorkers
        }

        /// `minWorkers` may be left out (0).
        package init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            resources = try container.decode([String: Double].self, forKey: .resources)
            minWorkers = try container.decodeIfPresent(Int.self, forKey: .minWorkers) ?? 0
            maxWorkers = try container.decode(Int.self, forKey: .maxWorkers)
        }
    }

    package var nodeTypes: [NodeType]
    /// A launched node with nothing to do for this long is drained and removed.
    package var idleTimeoutSeconds: Double

    package init(nodeTypes: [NodeType], idleTimeoutSeconds: Double = 60) {
        self.nodeTypes = nodeTypes
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    /// Ours (`nodeTypes`, `idleTimeoutSeconds`, default 60 as KubeRay's) or Ray's cluster config
    /// spelling (`available_node_types: {name: {resources, min_workers, max_workers}}`,
    /// `idle_timeout_minutes`, a global `max_workers`).
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if container.contains(.nodeTypes) {
            nodeTypes = try container.decode([NodeType].self, forKey: .nodeTypes)
            idleTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? 60
        } else {
            let ray = try RayClusterConfig(from: decoder)
            nodeTypes = ray.nodeTypes
            idleTimeoutSeconds = ray.idleTimeoutSeconds
        }
    }

    enum CodingKeys: String, CodingKey { case nodeTypes, idleTimeoutSeconds }

    /// Why this configuration cannot be used, or nil.
    package var problem: String? {
        if nodeTypes.isEmpty { return "no node types" }
        if Set(nodeTypes.map(\.name)).count != nodeTypes.count { return "node type names repeat" }
        for type in nodeTypes {
            if type.minWorkers < 0 || type.maxWorkers < type.minWorkers { return "node type \(type.name): need 0 <= minWorkers <= maxWorkers" }
            if type.resources.values.contains(where: { $0 < 0 }) { return "node type \(type.name): negative resources" }
        }
        return idleTimeoutSeconds >= 0 ? nil : "idleTimeoutSeconds cannot be negative"
    }
}

/// Ray's cluster config (the parts the autoscaler reads): `available_node_types`,
/// `idle_timeout_minutes`, `max_workers`; `head_node_type` and types without resources are skipped.
private struct RayClusterConfig: Decodable {
    struct RayNodeType: Decodable {
        var resources: [String: Double]?
        var minWorkers: Int?
        var maxWorkers: Int?
        enum CodingKeys: String, CodingKey { case resources, minWorkers = "min_workers", maxWorkers = "max_workers" }
    }

    var availableNodeTypes: [String: RayNodeType]
    var idleTimeoutMinutes: Double?
    var maxWorkers: Int?
    var headNodeType: String?

    enum CodingKeys: String, CodingKey {
        case availableNodeTypes = "available_node_types", idleTimeoutMinutes = "idle_timeout_minutes"
        case maxWorkers = "max_workers", headNodeType = "head_node_type"
    }

    var nodeTypes: [AutoscalerConfig.NodeType] {
        availableNodeTypes.sorted { $0.key < $1.key }.compactMap { name, type in
            guard name != headNodeType, let resources = type.resources, !resources.isEmpty else { return nil }
            let most = min(type.maxWorkers ?? maxWorkers ?? 0, maxWorkers ?? Int.max)
            return .init(name: name, resources: resources, minWorkers: type.minWorkers ?? 0, maxWorkers: most)
        }
    }

    var idleTimeoutSeconds: Double { (idleTimeoutMinutes ?? 5) * 60 }

}
