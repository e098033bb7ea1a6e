import SwiftRay

/// A placement group reserved for each trial (Ray's `PlacementGroupFactory`): the trial's task
/// runs in bundle 0, and the trial places its own tasks and actors in the other bundles through
/// `TrialConfig.placementGroup`. The group is removed when the trial ends or pauses.
///
/// ```swift
/// TuneConfig(resourcesPerTrial: PlacementGroupFactory([["CPU": 1], ["CPU": 2]]))
/// ```
public struct PlacementGroupFactory: Sendable {
    public var bundles: [[String: Double]]
    public var strategy: PlacementGroupStrategy

    /// - Parameter strategy: how the bundles spread over nodes (nil: `.pack`).
    public init(_ bundles: [[String: Double]], strategy: PlacementGroupStrategy? = nil) {
        self.bundles = bundles
        self.strategy = strategy ?? .pack
    }

    /// Reserves a group for trial `trialID` (returns at once; its tasks wait for the reservation).
    func reserve(_ trialID: String) async throws -> PlacementGroup {
        try await ray.placementGroup(bundles: bundles, strategy: strategy, name: trialID)
    }

    /// Submits the trial (`submit`) into bundle 0 of `group`, with `config` telling it its group.
    static func submit<R>(_ config: TrialConfig, in group: PlacementGroup?, _ submit: (TrialConfig) -> R) -> R {
        guard let group else { return submit(config) }
        var config = config
        config.placementGroup = group
        return group.capturing(bundleIndex: 0) { submit(config) }
    }
}
