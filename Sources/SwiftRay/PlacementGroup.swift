import RayWire

/// Where a task or actor may be placed (Ray's `scheduling_strategy`).
public typealias SchedulingStrategy = RayWire.SchedulingStrategy
/// How a placement group spreads its bundles over nodes: `.pack`, `.spread`, `.strictPack`,
/// `.strictSpread`.
public typealias PlacementGroupStrategy = RayWire.PlacementGroupStrategy

extension SchedulingStrategy {
    /// Into a bundle of `group` (`bundleIndex` -1: any of its bundles).
    public static func placementGroup(_ group: PlacementGroup, bundleIndex: Int = -1) -> SchedulingStrategy {
        .placementGroup(group.id, bundleIndex: bundleIndex)
    }
}

/// Resources reserved together across the cluster: bundles, each on one node, placed by a strategy
/// and held until the group is removed. Tasks and actors use them with
/// `schedulingStrategy: .placementGroup(group, bundleIndex:)`.
public struct PlacementGroup: Sendable, Hashable, Codable {
    public let id: RayID
    /// The resources of each bundle.
    public let bundles: [[String: Double]]
    public let strategy: PlacementGroupStrategy

    /// Waits until every bundle is reserved.
    /// - Throws: `RaySystemError` if the group was removed, or `timeout` passed first.
    public func ready(timeout: Duration? = nil) async throws {
        let runtime = try RuntimeRegistry.require()
        if let error = try await runtime.placementGroup(.wait(id, timeoutMillis: Duration.wireMillis(timeout))) {
            throw error.typedError
        }
    }

    /// Whether every bundle is reserved within `timeout` (Ray's `pg.wait`).
    public func wait(timeout: Duration) async throws -> Bool {
        let runtime = try RuntimeRegistry.require()
        guard let error = try await runtime.placementGroup(.wait(id, timeoutMillis: Duration.wireMillis(timeout))) else { return true }
        if error.kind == .timeout { return false }
        throw error.typedError
    }
}

extension Ray {
    /// Creates a placement group of `bundles` (each a resource set, e.g. `["CPU": 1]`) placed by
    /// `strategy`. Returns at once; `ready()` waits for the reservation.
    /// With an autoscaler, a group the live nodes cannot hold but nodes of its types can waits for
    /// them (its bundles are demand the autoscaler launches nodes for).
    /// With `lifetime: .detached` the head's state store keeps it: a head restarted after a crash
    /// reserves it again, and a new driver finds it with `getPlacementGroup(name:)`.
    /// - Throws: `TaskUnschedulableError` when neither the live nodes nor the autoscaler's node types
    ///   could ever hold it (a bundle no node fits, `strictSpread` over more bundles than nodes),
    ///   `RaySystemError` for empty bundles.
    public func placementGroup(
        bundles: [[String: Double]], strategy: PlacementGroupStrategy = .pack, name: String = "", lifetime: ActorLifetime? = nil
    ) async throws -> PlacementGroup {
        let runtime = try RuntimeRegistry.require()
        let spec = PlacementGroupSpec(id: runtime.newID(), bundles: bundles, strategy: strategy, name: name, detached: lifetime == .detached)
        if let error = try await runtime.placementGroup(.create(spec)) { throw error.typedError }
        return PlacementGroup(id: spec.id, bundles: bundles, strategy: strategy)
    }

    /// The live (not removed) placement group named `name` (Ray's `get_placement_group`).
    /// - Throws: `RaySystemError` if there is none.
    public func getPlacementGroup(name: String) async throws -> PlacementGroup {
        let groups = try await state.placementGroups()
        guard let found = groups.first(where: { $0.name == name && $0.state != "REMOVED" }), let id = RayID(found.placementGroupID),
              let strategy = PlacementGroupStrategy(rawValue: found.strategy) else {
            throw RaySystemError(message: "no placement group named '\(name)'")
        }
        return PlacementGroup(id: id, bundles: found.bundles, strategy: strategy)
    }

    /// Removes the group: its bundles' resources are freed, its actors killed, its queued tasks fail.
    public func removePlacementGroup(_ group: PlacementGroup) async throws {
        let runtime = try RuntimeRegistry.require()
        if let error = try await runtime.placementGroup(.remove(group.id)) { throw error.typedError }
    }
}

extension PlacementGroup {
    /// Where tasks submitted inside `capturing` go unless their options say otherwise.
    struct Capture: Sendable {
        let group: PlacementGroup
        let bundleIndex: Int
    }

    @TaskLocal static var captured: Capture?

    /// Runs `body` with the tasks it submits placed in bundle `bundleIndex` of this group (-1:
    /// any bundle) when their options leave the scheduling strategy at `.default`: Ray's
    /// `placement_group_capture_child_tasks`, for the code in `body` (Tune places each trial in
    /// its group this way). Actors are not captured; give them `schedulingStrategy`.
    public func capturing<R>(bundleIndex: Int = -1, _ body: () throws -> R) rethrows -> R {
        try Self.$captured.withValue(Capture(group: self, bundleIndex: bundleIndex), operation: body)
    }

    /// The strategy for a submission whose options say `strategy`.
    static func strategy(for strategy: SchedulingStrategy) -> SchedulingStrategy {
        guard strategy == .default, let captured else { return strategy }
        return .placementGroup(captured.group, bundleIndex: captured.bundleIndex)
    }
}
