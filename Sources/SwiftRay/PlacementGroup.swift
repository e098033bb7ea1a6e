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
    /// - Throws: `TaskUnschedulableError` when the live nodes could never hold it (a bundle no node
    ///   fits, `strictSpread` over more bundles than nodes), `RaySystemError` for empty bundles.
    public func placementGroup(
        bundles: [[String: Double]], strategy: PlacementGroupStrategy = .pack, name: String = ""
    ) async throws -> PlacementGroup {
        let runtime = try RuntimeRegistry.require()
        let spec = PlacementGroupSpec(id: runtime.newID(), bundles: bundles, strategy: strategy, name: name)
        if let error = try await runtime.placementGroup(.create(spec)) { throw error.typedError }
        return PlacementGroup(id: spec.id, bundles: bundles, strategy: strategy)
    }

    /// Removes the group: its bundles' resources are freed, its actors killed, its queued tasks fail.
    public func removePlacementGroup(_ group: PlacementGroup) async throws {
        let runtime = try RuntimeRegistry.require()
        if let error = try await runtime.placementGroup(.remove(group.id)) { throw error.typedError }
    }
}
