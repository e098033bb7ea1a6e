import Foundation
import Logging

/// A node as the autoscaler reads it from the cluster.
package struct ObservedNode: Sendable {
    package var id: String
    package var total: [String: Double]
    package var available: [String: Double]
    package var storedObjects: Int

    package init(id: String, total: [String: Double], available: [String: Double], storedObjects: Int) {
        self.id = id
        self.total = total
        self.available = available
        self.storedObjects = storedObjects
    }
}

/// What the autoscaler needs of the cluster (the head implements it).
package protocol AutoscaledCluster: Sendable {
    /// Live nodes and the demand waiting for resources.
    func observe() async -> (nodes: [ObservedNode], demands: [(shape: [String: Double], count: Int)])
    /// Stops placing new work on the node.
    func drain(_ nodeID: String) async
    /// Shows the autoscaler's view in `swiftray status`.
    func report(_ lines: [String]) async
}

/// Starts and stops nodes (Ray's node provider): a node launched with `marker` offers the
/// resource `marker: 1`, which is how the autoscaler recognises it once it joins.
package protocol NodeProvider: Sendable {
    func launch(_ type: AutoscalerConfig.NodeType, marker: String) async throws
    func terminate(marker: String) async
}

/// Ray's autoscaler: every `interval`, packs waiting demand onto node types and launches what
/// is missing, and drains and removes launched nodes idle past the timeout (never one with
/// leased resources or stored objects).
package actor Autoscaler {
    package static let markerPrefix = "autoscaler-node-"
    private let planner: ScalingPlanner
    private let cluster: any AutoscaledCluster
    private let provider: any NodeProvider
    private var launching: [String: (type: String, since: Date)] = [:]
    private var idleSince: [String: Date] = [:]
    private var failures: [String] = []
    private var launched = 0
    private let launchTimeout: TimeInterval
    private let logger = Logger(label: "swiftray.autoscaler")

    package init(config: AutoscalerConfig, cluster: any AutoscaledCluster, provider: any NodeProvider, launchTimeout: TimeInterval = 60) {
        planner = ScalingPlanner(config: config)
        self.cluster = cluster
        self.provider = provider
        self.launchTimeout = launchTimeout
    }

    /// Steps until cancelled.
    package func run(every interval: Duration = .milliseconds(250)) async {
        while !Task.isCancelled {
            await step()
            try? await Task.sleep(for: interval)
        }
    }

    /// One decision and its launches and removals.
    package func step() async {
        let (nodes, demands) = await cluster.observe()
        let now = Date()
        let planned = nodes.map { plannedNode($0, now: now) }
        for node in nodes { if let marker = marker(of: node) { launching[marker] = nil } }  // joined
        expireLaunches(now)
        let decision = planner.decide(demands: demands, nodes: planned, launching: launchingCounts)
        for (type, count) in decision.launches.sorted(by: { $0.key < $1.key }) {
            for _ in 0..<count { await launch(type) }
        }
        for nodeID in decision.terminations {
            guard let node = nodes.first(where: { $0.id == nodeID }), let marker = marker(of: node) else { continue }
            logger.info("removing idle node \(nodeID)")
            await cluster.drain(nodeID)
            await provider.terminate(marker: marker)
            idleSince[nodeID] = nil
        }
        await cluster.report(report(planned, decision))
    }

    private var launchingCounts: [String: Int] {
        Dictionary(launching.values.map { ($0.type, 1) }, uniquingKeysWith: +)
    }

    private func launch(_ typeName: String) async {
        guard let type = planner.config.nodeTypes.first(where: { $0.name == typeName }) else { return }
        launched += 1
        let marker = "\(Self.markerPrefix)\(typeName)-\(launched)"
        launching[marker] = (typeName, Date())
        do {
            try await provider.launch(type, marker: marker)
            logger.info("launching a \(typeName) node (\(marker))")
        } catch {
            launching[marker] = nil
            note("launching a \(typeName) node failed: \(error)")
        }
    }

    private func expireLaunches(_ now: Date) {
        for (marker, launch) in launching where now.timeIntervalSince(launch.since) > launchTimeout {
            launching[marker] = nil
            note("a \(launch.type) node (\(marker)) did not join within \(Int(launchTimeout)) s")
            Task { await provider.terminate(marker: marker) }
        }
    }

    private func note(_ failure: String) {
        logger.warning("\(failure)")
        failures = Array((failures + [failure]).suffix(5))
    }

    private func plannedNode(_ node: ObservedNode, now: Date) -> PlannedNode {
        let marker = marker(of: node)
        let type = marker.flatMap { marker in launchedType(marker) }
        let busy = node.total.contains { name, amount in name != marker && (node.available[name] ?? 0) + 1e-9 < amount }
        let idle = !busy && node.storedObjects == 0
        if idle, idleSince[node.id] == nil { idleSince[node.id] = now }
        if !idle { idleSince[node.id] = nil }
        return PlannedNode(
            id: node.id, type: type, available: node.available, isIdle: idle,
            idleSeconds: idleSince[node.id].map { now.timeIntervalSince($0) } ?? 0)
    }

    private func marker(of node: ObservedNode) -> String? { node.total.keys.first { $0.hasPrefix(Self.markerPrefix) } }

    /// The type name inside a marker (`autoscaler-node-<type>-<n>`).
    private func launchedType(_ marker: String) -> String? {
        let body = marker.dropFirst(Self.markerPrefix.count)
        guard let dash = body.lastIndex(of: "-") else { return nil }
        return String(body[..<dash])
    }

    private func report(_ nodes: [PlannedNode], _ decision: ScalingDecision) -> [String] {
        var lines = ["Pending launches: " + (launchingCounts.isEmpty ? "(none)" : launchingCounts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))]
        let idle = nodes.filter { $0.type != nil && $0.isIdle }
        lines.append("Idle nodes: " + (idle.isEmpty ? "(none)" : idle.map { "\($0.id) (\(Int($0.idleSeconds)) s)" }.joined(separator: ", ")))
        lines.append("Launched nodes: \(nodes.filter { $0.type != nil }.count)")
        if !decision.infeasible.isEmpty { lines.append("No node type holds: " + decision.infeasible.map { "\($0)" }.joined(separator: ", ")) }
        lines += failures.map { "Failed: \($0)" }
        return lines
    }
}
