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

    /// `idleTimeoutSeconds` may be left out (60, as KubeRay's default).
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        nodeTypes = try container.decode([NodeType].self, forKey: .nodeTypes)
        idleTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? 60
    }

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
