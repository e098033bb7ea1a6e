import Foundation

/// One node as the planner sees it.
package struct PlannedNode: Sendable, Equatable {
    package var id: String
    /// The node type it was launched as; nil for nodes the autoscaler did not launch (the head).
    package var type: String?
    package var available: [String: Double]
    /// Nothing leased on it and no object stored in it (so removing it loses nothing).
    package var isIdle: Bool
    /// How long it has been idle.
    package var idleSeconds: Double

    package init(id: String, type: String?, available: [String: Double], isIdle: Bool, idleSeconds: Double) {
        self.id = id
        self.type = type
        self.available = available
        self.isIdle = isIdle
        self.idleSeconds = idleSeconds
    }
}

/// A resource shape waiting for room, and how many of it.
package struct ResourceDemand: Sendable, Equatable {
    package var shape: [String: Double]
    package var count: Int
    /// Set for the bundles of one STRICT_SPREAD placement group: no two go to the same node.
    package var spreadGroup: String?

    package init(_ shape: [String: Double], count: Int = 1, spreadGroup: String? = nil) {
        self.shape = shape
        self.count = count
        self.spreadGroup = spreadGroup
    }
}

/// What to do now.
package struct ScalingDecision: Sendable, Equatable {
    /// New nodes to launch, by type.
    package var launches: [String: Int] = [:]
    /// Launched nodes to drain and remove.
    package var terminations: [String] = []
    /// Demand shapes no node type can hold (they stay infeasible).
    package var infeasible: [[String: Double]] = []
}

/// Ray's demand-based scaling as a pure function: pending resource shapes are packed first onto
/// what running nodes have free, then onto nodes already launching, then onto new nodes of the
/// first type that holds them (within `maxWorkers`); each type is kept at `minWorkers`; launched
/// nodes idle past the timeout are removed down to `minWorkers`, never one with work or objects.
package struct ScalingPlanner: Sendable {
    package let config: AutoscalerConfig

    package init(config: AutoscalerConfig) { self.config = config }

    /// - Parameters:
    ///   - demands: pending shapes with their counts (tasks, actors, placement group bundles).
    ///   - nodes: live nodes.
    ///   - launching: nodes launched but not yet joined, by type.
    package func decide(demands: [ResourceDemand], nodes: [PlannedNode], launching: [String: Int]) -> ScalingDecision {
        var decision = ScalingDecision()
        // The room of every node there is or will be, and the STRICT_SPREAD groups placed in it.
        var free = nodes.map(\.available)
        var spread = Array(repeating: Set<String>(), count: free.count)
        var counts: [String: Int] = launching
        for type in nodes.compactMap(\.type) { counts[type, default: 0] += 1 }
        for (type, count) in launching { free += Array(repeating: resources(of: type), count: count) }
        spread += Array(repeating: [], count: free.count - spread.count)
        // Biggest shapes first: they are the hardest to place (first-fit decreasing).
        let units = demands.flatMap { demand in Array(repeating: (demand.shape, demand.spreadGroup), count: max(demand.count, 0)) }
            .sorted { size($0.0) > size($1.0) }
        for (shape, group) in units {
            if let index = free.indices.first(where: { fits(shape, in: free[$0]) && !(group.map(spread[$0].contains) ?? false) }) {
                free[index] = subtracting(shape, from: free[index])
                if let group { spread[index].insert(group) }
            } else if let type = candidates(for: shape).first(where: { counts[$0.name, default: 0] < $0.maxWorkers }) {
                decision.launches[type.name, default: 0] += 1
                counts[type.name, default: 0] += 1
                free.append(subtracting(shape, from: type.resources))
                spread.append(group.map { [$0] } ?? [])
            } else if !config.nodeTypes.contains(where: { fits(shape, in: $0.resources) }), !decision.infeasible.contains(shape) {
                decision.infeasible.append(shape)
            }
        }
        for type in config.nodeTypes where counts[type.name, default: 0] < type.minWorkers {
            decision.launches[type.name, default: 0] += type.minWorkers - counts[type.name, default: 0]
            counts[type.name] = type.minWorkers
        }
        let waiting = units.contains { !decision.infeasible.contains($0.0) }
        decision.terminations = idleToRemove(nodes, counts: counts, busy: waiting)
        return decision
    }

    /// Launched nodes idle past the timeout, oldest idle first, keeping each type at its minimum.
    /// While demand waits nothing is removed (it may be about to use them).
    private func idleToRemove(_ nodes: [PlannedNode], counts: [String: Int], busy: Bool) -> [String] {
        guard !busy else { return [] }
        var remaining = counts, removed: [String] = []
        let idle = nodes.filter { $0.type != nil && $0.isIdle && $0.idleSeconds >= config.idleTimeoutSeconds }
            .sorted { $0.idleSeconds > $1.idleSeconds }
        for node in idle {
            guard let typeName = node.type, let type = config.nodeTypes.first(where: { $0.name == typeName }) else { continue }
            guard remaining[typeName, default: 0] > type.minWorkers else { continue }
            remaining[typeName, default: 0] -= 1
            removed.append(node.id)
        }
        return removed
    }

    private func size(_ shape: [String: Double]) -> Double { shape.values.reduce(0, +) }

    /// The types that hold `shape`, in order. A shape without GPUs does not get a GPU type while
    /// a type without GPUs holds it, even a full one (Ray conserves GPU nodes the same way).
    private func candidates(for shape: [String: Double]) -> [AutoscalerConfig.NodeType] {
        let holding = config.nodeTypes.filter { fits(shape, in: $0.resources) }
        guard (shape["GPU"] ?? 0) <= 0 else { return holding }
        let plain = holding.filter { ($0.resources["GPU"] ?? 0) <= 0 }
        return plain.isEmpty ? holding : plain
    }

    private func resources(of type: String) -> [String: Double] {
        config.nodeTypes.first { $0.name == type }?.resources ?? [:]
    }

    private func fits(_ shape: [String: Double], in available: [String: Double]) -> Bool {
        shape.allSatisfy { name, amount in amount <= 0 || (available[name] ?? 0) + 1e-9 >= amount }
    }

    private func subtracting(_ shape: [String: Double], from available: [String: Double]) -> [String: Double] {
        var left = available
        for (name, amount) in shape where amount > 0 { left[name, default: 0] -= amount }
        return left
    }
}
