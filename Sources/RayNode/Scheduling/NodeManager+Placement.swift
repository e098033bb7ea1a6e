import NIOCore
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

    /// Tasks, actors and placement groups waiting for resources, as shapes with counts (what the
    /// autoscaler packs): a STRICT_PACK group as the sum of its bundles, a STRICT_SPREAD group's
    /// bundles marked as needing a node each, other groups' bundles one by one.
    package var unmetDemands: [AutoscalingView.Demand] {
        var shapes: [ResourceSet: Int] = [:]
        for (demand, count) in queues.demandShapes { shapes[demand, default: 0] += count }
        for id in actors.pending {
            guard let spec = actors[id]?.spec else { continue }
            shapes[spec.resources.isEmpty ? ["CPU": 1] : spec.resources, default: 0] += 1
        }
        var demands = shapes.map { AutoscalingView.Demand(shape: $0.key, count: $0.value) }
        for id in placementGroups.waiting {
            guard let group = placementGroups[id], !group.removed, !group.isPlaced else { continue }
            let bundles = group.spec.bundles.filter { !$0.isEmpty }
            switch group.spec.strategy {
            case .strictPack: demands.append(.init(shape: bundles.reduce(into: ResourceSet()) { $0.add($1) }, count: 1))
            case .strictSpread: demands += bundles.map { .init(shape: $0, count: 1, spreadGroup: "\(id)") }
            default: demands += bundles.map { .init(shape: $0, count: 1) }
            }
        }
        return demands
    }

    /// Tasks and actors waiting for resources, by shape.
    package var pendingDemands: [String: Int] {
        var demands = queues.demands
        for id in actors.pending {
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
            if let problem = PlacementGroups.problem(spec, live: nodes.filter(\.alive), nodeTypes: autoscalingNodeTypes) {
                return reply(ErrorInfo(kind: .unschedulable, message: "\(problem) (cluster: \(clusterSummary))"))
            }
            placementGroups.add(spec)
            placePendingGroups()
            if spec.detached, let journal = detachedGroupChanged {
                journal(spec, nil, onLoop { reply(nil) })  // answered once it is on disk
            } else {
                reply(nil)
            }
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

    /// The node a placed group's first bundle is on (nil: not placed, or removed).
    package func firstBundleNode(of id: RayID) -> NodeRecord? {
        guard let group = placementGroups[id], !group.removed else { return nil }
        return group.bundles.first?.node
    }

    /// Reserves the bundles of waiting groups that fit now, in creation order, and tells their waiters.
    func placePendingGroups() {
        guard !placementGroups.waiting.isEmpty else { return }
        let placed = placementGroups.placeWaiting(on: nodes.filter(\.alive), strays: strayLeases())
        for group in placed {
            for waiter in group.waiters { waiter(nil) }
            group.waiters = []
        }
        if !placed.isEmpty { requestSchedule() }
    }

    /// Frees the group's bundles; its actors are killed and its queued tasks fail, as in Ray.
    func removePlacementGroup(_ id: RayID) {
        guard let group = placementGroups[id], !group.removed else { return }
        group.removed = true
        if group.spec.detached { detachedGroupChanged?(nil, id) {} }
        for bundle in group.bundles {
            bundle.removed = true
            bundle.node.available.add(bundle.available)
            bundle.available = [:]
        }
        for waiter in group.waiters { waiter(ErrorInfo(kind: .system, message: "placement group \(id) was removed")) }
        group.waiters = []
        for record in actors.all where !record.isDead {
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
