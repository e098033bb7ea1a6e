import RayWire

/// Where work may go: scheduling strategies (default packing, spread, node affinity, placement
/// groups) and placement groups themselves.
extension NodeManager {
    /// The places a lease for `demand` under `strategy` can be taken from now, best first.
    func leaseTargets(_ demand: ResourceSet, _ strategy: SchedulingStrategy) -> [LeaseTarget] {
        let fitting = nodes.filter { $0.schedulable && $0.available.fits(demand) }
        switch strategy {
        case .default:
            return fitting.map { .node($0) }
        case .spread:
            spreadTurn &+= 1
            let turn = spreadTurn
            return fitting.enumerated().sorted { a, b in
                let (loadA, loadB) = (load(of: a.element), load(of: b.element))
                if loadA != loadB { return loadA < loadB }
                return (a.offset + turn) % max(fitting.count, 1) < (b.offset + turn) % max(fitting.count, 1)
            }.map { .node($0.element) }
        case .nodeAffinity(let nodeID, let soft):
            if let node = fitting.first(where: { $0.id == nodeID }) { return [.node(node)] }
            return soft ? fitting.map { .node($0) } : []
        case .placementGroup(let id, let index):
            guard let group = placementGroups[id], group.isPlaced, !group.removed else { return [] }
            let bundles = index >= 0 && index < group.bundles.count ? [group.bundles[index]] : group.bundles
            return bundles.filter { $0.node.schedulable && $0.available.fits(demand) }.map { .bundle($0) }
        }
    }

    /// Why `demand` under `strategy` can never be placed, or nil; refusals are counted for status.
    func infeasibility(_ demand: ResourceSet, _ strategy: SchedulingStrategy, name: String) -> String? {
        let reason = placementProblem(demand, strategy, name: name)
        if reason != nil { infeasibleDemands[demand.summary, default: 0] += 1 }
        return reason
    }

    /// Tasks and actors waiting for resources, by shape.
    package var pendingDemands: [String: Int] {
        var demands = queues.demands
        for id in pendingActors {
            guard let spec = actors[id]?.spec else { continue }
            let placement: ResourceSet = spec.resources.isEmpty ? ["CPU": 1] : spec.resources
            demands[placement.summary, default: 0] += 1
        }
        return demands
    }

    private func placementProblem(_ demand: ResourceSet, _ strategy: SchedulingStrategy, name: String) -> String? {
        switch strategy {
        case .default, .spread:
            guard canEverFit(demand) else {
                return "\(name) requires \(demand.summary) but this cluster has \(clusterSummary); no node can ever run it"
            }
        case .nodeAffinity(let nodeID, let soft):
            guard let node = nodes.first(where: { $0.id == nodeID && $0.alive }) else {
                return soft ? (canEverFit(demand) ? nil : "\(name) requires \(demand.summary); no node can ever run it")
                    : "\(name) must run on node \(nodeID), which is not alive"
            }
            if !node.total.fits(demand), !soft { return "\(name) requires \(demand.summary) but node \(nodeID) has \(node.total.summary)" }
        case .placementGroup(let id, let index):
            guard let group = placementGroups[id], !group.removed else { return "\(name): placement group \(id) does not exist or was removed" }
            let bundles = group.spec.bundles
            guard index < bundles.count else { return "\(name): placement group \(id) has no bundle \(index)" }
            let candidates = index >= 0 ? [bundles[index]] : bundles
            if !candidates.contains(where: { $0.fits(demand) }) {
                return "\(name) requires \(demand.summary), more than its placement group bundle holds"
            }
        }
        return nil
    }

    /// The share of a node's CPUs in use.
    private func load(of node: NodeRecord) -> Double {
        let total = node.total["CPU"] ?? 0
        guard total > 0 else { return 0 }
        return (total - (node.available["CPU"] ?? 0)) / total
    }

    // MARK: Placement groups

    package func placementGroupRequest(_ request: PlacementGroupRequest, reply: @escaping (ErrorInfo?) -> Void) {
        switch request {
        case .create(let spec):
            guard placementGroups[spec.id] == nil else { return reply(nil) }
            if spec.bundles.isEmpty || spec.bundles.contains(where: { $0.values.contains { $0 < 0 } }) {
                return reply(ErrorInfo(kind: .system, message: "a placement group needs at least one bundle, with no negative amounts"))
            }
            if let problem = placementGroupProblem(spec) { return reply(ErrorInfo(kind: .unschedulable, message: problem)) }
            placementGroups[spec.id] = PlacementGroupRecord(spec: spec)
            pendingPlacementGroups.append(spec.id)
            placePendingGroups()
            reply(nil)
        case .wait(let id, let timeout):
            guard let group = placementGroups[id], !group.removed else {
                return reply(ErrorInfo(kind: .system, message: "placement group \(id) does not exist or was removed"))
            }
            if group.isPlaced { return reply(nil) }
            let answer = OneReply(reply)
            group.waiters.append { answer.send($0) }
            if timeout >= 0 {
                loop.scheduleTask(in: .milliseconds(timeout)) {
                    answer.send(ErrorInfo(kind: .timeout, message: "placement group \(id) was not ready within \(timeout) ms"))
                }
            }
        case .remove(let id):
            removePlacementGroup(id)
            reply(nil)
        }
    }

    /// Reserves the bundles of waiting groups that fit now, in creation order.
    func placePendingGroups() {
        guard !pendingPlacementGroups.isEmpty else { return }
        pendingPlacementGroups.removeAll { id in
            guard let group = placementGroups[id], !group.removed else { return true }
            guard let placement = bundleNodes(group.spec) else { return false }
            group.bundles = zip(group.spec.bundles, placement).map { bundle, node in
                node.available.subtract(bundle)
                return BundleRecord(node: node, reserved: bundle)
            }
            for waiter in group.waiters { waiter(nil) }
            group.waiters = []
            requestSchedule()
            return true
        }
    }

    /// A node for each bundle under the group's strategy, from what is free now; nil if it cannot.
    private func bundleNodes(_ spec: PlacementGroupSpec) -> [NodeRecord]? {
        let live = nodes.filter(\.alive)
        var free = live.map(\.available)
        var chosen: [Int] = []
        if spec.strategy == .strictPack {
            let sum = spec.bundles.reduce(into: ResourceSet()) { $0.add($1) }
            guard let index = live.indices.first(where: { free[$0].fits(sum) }) else { return nil }
            return spec.bundles.map { _ in live[index] }
        }
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

    /// Why a group could never be placed on the live nodes, or nil.
    private func placementGroupProblem(_ spec: PlacementGroupSpec) -> String? {
        let live = nodes.filter(\.alive)
        for bundle in spec.bundles where !live.contains(where: { $0.total.fits(bundle) }) {
            return "bundle \(bundle.summary) fits on no node (cluster: \(clusterSummary))"
        }
        if spec.strategy == .strictSpread, spec.bundles.count > live.count {
            return "STRICT_SPREAD needs \(spec.bundles.count) nodes; the cluster has \(live.count)"
        }
        if spec.strategy == .strictPack {
            let sum = spec.bundles.reduce(into: ResourceSet()) { $0.add($1) }
            if !live.contains(where: { $0.total.fits(sum) }) { return "STRICT_PACK needs one node with \(sum.summary)" }
        }
        return nil
    }

    /// Frees the group's bundles; its actors are killed and its queued tasks fail, as in Ray.
    func removePlacementGroup(_ id: RayID) {
        guard let group = placementGroups[id], !group.removed else { return }
        group.removed = true
        for bundle in group.bundles {
            bundle.removed = true
            bundle.node.available.add(bundle.available)
            bundle.available = [:]
        }
        for waiter in group.waiters { waiter(ErrorInfo(kind: .system, message: "placement group \(id) was removed")) }
        group.waiters = []
        for record in actors.values where !record.isDead {
            if case .placementGroup(id, _) = record.spec.strategy { killActorOnLoop(record.id, noRestart: true) }
        }
        let error = ErrorInfo(kind: .unschedulable, message: "its placement group \(id) was removed")
        let queued = queues.removeAll { cls in
            if case .placementGroup(id, _) = cls.strategy { true } else { false }
        }
        for taskID in queued { if let record = tasks[taskID] { finish(record, .error(error)) } }
        requestSchedule()
    }
}

/// A reply sent once, by whichever of its senders comes first (all on the node manager's loop).
private final class OneReply: @unchecked Sendable {
    private var reply: ((ErrorInfo?) -> Void)?

    init(_ reply: @escaping (ErrorInfo?) -> Void) { self.reply = reply }

    func send(_ error: ErrorInfo?) {
        guard let reply else { return }
        self.reply = nil
        reply(error)
    }
}
