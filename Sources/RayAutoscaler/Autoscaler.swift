import Foundation
import Logging

/// A node as the autoscaler reads it from the cluster.
package struct ObservedNode: Sendable {
    package var id: String
    package var total: [String: Double]
    package var available: [String: Double]
    package var storedObjects: Int
    /// Workers starting there (for tasks the scheduler sent its way).
    package var startingWorkers: Int

    package init(id: String, total: [String: Double], available: [String: Double], storedObjects: Int, startingWorkers: Int = 0) {
        self.id = id
        self.total = total
        self.available = available
        self.storedObjects = storedObjects
        self.startingWorkers = startingWorkers
    }
}

/// What the autoscaler needs of the cluster (the head implements it).
package protocol AutoscaledCluster: Sendable {
    /// Live nodes and the demand waiting for resources.
    /// - Throws: when the cluster cannot be asked (the step is skipped: deciding on nothing would
    ///   remove what is there).
    func observe() async throws -> (nodes: [ObservedNode], demands: [ResourceDemand])
    /// Stops placing new work on the node.
    func drain(_ nodeID: String) async
    /// Shows the autoscaler's view in `swiftray status`.
    func report(_ lines: [String]) async
}

/// A node a provider has started, or been asked for and not yet created (`marker` nil: a
/// KubeRay replica the operator has not made a pod for yet).
package struct ProviderNode: Sendable, Equatable {
    package var type: String
    /// The resource the node offers (`marker: 1`) once it joins: how it is recognised.
    package var marker: String?

    package init(type: String, marker: String?) {
        self.type = type
        self.marker = marker
    }
}

/// Starts and stops nodes (Ray's node provider). A node it starts offers the resource
/// `autoscaler-node-<type>-<id>: 1`, which is how the autoscaler recognises it once it joins.
package protocol NodeProvider: Sendable {
    /// Every node started or requested and not terminated, joined or not.
    func nodes() async throws -> [ProviderNode]
    /// Starts `count` more nodes of `type`.
    func launch(_ type: AutoscalerConfig.NodeType, count: Int) async throws
    /// Stops these nodes (by marker).
    func terminate(markers: [String]) async throws
}

/// Ray's autoscaler: every `interval`, packs waiting demand onto node types and launches what
/// is missing, and drains and removes launched nodes idle past the timeout (never one with
/// leased resources or stored objects). Nodes the provider has but the cluster does not (yet)
/// count as launching; one that does not join within `launchTimeout` is stopped.
package actor Autoscaler {
    package static let markerPrefix = "autoscaler-node-"
    private var planner: ScalingPlanner
    private let cluster: any AutoscaledCluster
    private let provider: any NodeProvider
    /// When each provider node not yet in the cluster was first seen.
    private var pendingSince: [String: Date] = [:]
    private var launching: [String: Int] = [:]
    private var idleSince: [String: Date] = [:]
    private var failures: [String] = []
    private let launchTimeout: TimeInterval
    private let logger = Logger(label: "swiftray.autoscaler")

    package init(config: AutoscalerConfig, cluster: any AutoscaledCluster, provider: any NodeProvider, launchTimeout: TimeInterval = 60) {
        planner = ScalingPlanner(config: config)
        self.cluster = cluster
        self.provider = provider
        self.launchTimeout = launchTimeout
    }

    /// The node types and idle timeout to use from the next step on (a RayCluster edited).
    package func update(_ config: AutoscalerConfig) {
        planner = ScalingPlanner(config: config)
    }

    package var config: AutoscalerConfig { planner.config }

    /// Steps until cancelled.
    package func run(every interval: Duration = .milliseconds(250)) async {
        while !Task.isCancelled {
            await step()
            try? await Task.sleep(for: interval)
        }
    }

    /// One decision and its launches and removals.
    package func step() async {
        let nodes: [ObservedNode], demands: [ResourceDemand], provided: [ProviderNode]
        do {
            (nodes, demands) = try await cluster.observe()
        } catch {
            return note("reading the cluster failed: \(error)")
        }
        do {
            provided = try await provider.nodes()
        } catch {
            note("listing the provider's nodes failed: \(error)")
            return await cluster.report(report([], ScalingDecision()))
        }
        let now = Date()
        await trackLaunches(provided, joined: Set(nodes.compactMap(marker(of:))), now: now)
        let planned = nodes.map { plannedNode($0, now: now) }
        let decision = planner.decide(demands: demands, nodes: planned, launching: launching)
        for (type, count) in decision.launches.sorted(by: { $0.key < $1.key }) { await launch(type, count: count) }
        var removed: [String] = []
        for nodeID in decision.terminations {
            guard let node = nodes.first(where: { $0.id == nodeID }), let marker = marker(of: node) else { continue }
            logger.info("removing idle node \(nodeID)")
            await cluster.drain(nodeID)
            removed.append(marker)
            idleSince[nodeID] = nil
        }
        if !removed.isEmpty { await terminate(removed) }
        await cluster.report(report(planned, decision))
    }

    /// Counts the provider's nodes not in the cluster yet as launching, by type, and stops those
    /// that took longer than the launch timeout to join.
    private func trackLaunches(_ provided: [ProviderNode], joined: Set<String>, now: Date) async {
        var counts: [String: Int] = [:], expired: [String] = []
        for node in provided where node.marker.map({ !joined.contains($0) }) ?? true {
            if let marker = node.marker {
                let since = pendingSince[marker] ?? now
                pendingSince[marker] = since
                if now.timeIntervalSince(since) > launchTimeout {
                    note("a \(node.type) node (\(marker)) did not join within \(Int(launchTimeout)) s")
                    expired.append(marker)
                    continue
                }
            }
            counts[node.type, default: 0] += 1
        }
        let live = Set(provided.compactMap(\.marker))
        pendingSince = pendingSince.filter { live.contains($0.key) && !joined.contains($0.key) }
        launching = counts
        if !expired.isEmpty { await terminate(expired) }
    }

    private func launch(_ typeName: String, count: Int) async {
        guard let type = planner.config.nodeTypes.first(where: { $0.name == typeName }) else { return }
        do {
            try await provider.launch(type, count: count)
            logger.info("launching \(count) \(typeName) node(s)")
            launching[typeName, default: 0] += count
        } catch {
            note("launching \(count) \(typeName) node(s) failed: \(error)")
        }
    }

    private func terminate(_ markers: [String]) async {
        do {
            try await provider.terminate(markers: markers)
        } catch {
            note("removing \(markers.joined(separator: ", ")) failed: \(error)")
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
        let idle = !busy && node.storedObjects == 0 && node.startingWorkers == 0
        if idle, idleSince[node.id] == nil { idleSince[node.id] = now }
        if !idle { idleSince[node.id] = nil }
        return PlannedNode(
            id: node.id, type: type, available: node.available, isIdle: idle,
            idleSeconds: idleSince[node.id].map { now.timeIntervalSince($0) } ?? 0)
    }

    private func marker(of node: ObservedNode) -> String? { node.total.keys.first { $0.hasPrefix(Self.markerPrefix) } }

    private func launchedType(_ marker: String) -> String? {
        Self.parse(marker, types: planner.config.nodeTypes.map(\.name))?.type
    }

    /// The type and id a marker (`autoscaler-node-<type>-<id>`) names: the longest of `types` it
    /// starts with (type names and pod names both hold dashes); nil when none does.
    package static func parse(_ marker: String, types: [String]) -> (type: String, id: String)? {
        guard marker.hasPrefix(markerPrefix) else { return nil }
        let body = marker.dropFirst(markerPrefix.count)
        guard let type = types.filter({ body.hasPrefix($0 + "-") }).max(by: { $0.count < $1.count }) else { return nil }
        return (type, String(body.dropFirst(type.count + 1)))
    }

    /// The marker of a node of `type` known to its provider as `id`.
    package static func marker(type: String, id: String) -> String { "\(markerPrefix)\(type)-\(id)" }

    private func report(_ nodes: [PlannedNode], _ decision: ScalingDecision) -> [String] {
        let pending = launching.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        var lines = ["Pending launches: " + (pending.isEmpty ? "(none)" : pending.map { "\($0.value) \($0.key)" }.joined(separator: ", "))]
        let idle = nodes.filter { $0.type != nil && $0.isIdle }
        lines.append("Idle nodes: " + (idle.isEmpty ? "(none)" : idle.map { "\($0.id) (\(Int($0.idleSeconds)) s)" }.joined(separator: ", ")))
        lines.append("Launched nodes: \(nodes.filter { $0.type != nil }.count)")
        if !decision.infeasible.isEmpty { lines.append("No node type holds: " + decision.infeasible.map { "\($0)" }.joined(separator: ", ")) }
        lines += failures.map { "Failed: \($0)" }
        return lines
    }
}
