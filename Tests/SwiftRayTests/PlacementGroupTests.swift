import RayTesting
import SwiftRay
import XCTest

/// Placement groups and strategies on one node (the cluster tests place them across nodes).
final class PlacementGroupTests: RayTestCase {
    func testBundlesAreReservedForTheGroupAndFreedOnRemoval() async throws {
        let group = try await ray.placementGroup(bundles: [["CPU": 1], ["CPU": 1]], strategy: .pack)
        try await group.ready(timeout: .seconds(30))
        let inGroup = try await ray.get($square.options(schedulingStrategy: .placementGroup(group, bundleIndex: 1)).remote(7), timeout: .seconds(30))
        XCTAssertEqual(inGroup, 49)
        // Both CPUs are reserved: a task outside the group waits until the group goes.
        let outside = $square.remote(3)
        let (ready, _) = try await ray.wait([outside], numReturns: 1, timeout: .milliseconds(300))
        XCTAssertTrue(ready.isEmpty, "the group holds every CPU")
        try await ray.removePlacementGroup(group)
        let value = try await ray.get(outside, timeout: .seconds(30))
        XCTAssertEqual(value, 9)
    }

    func testGroupsThatCanNeverBePlacedAreRefused() async throws {
        _ = await expectError(TaskUnschedulableError.self) { try await ray.placementGroup(bundles: [["CPU": 8]]) }
        _ = await expectError(TaskUnschedulableError.self) {
            try await ray.placementGroup(bundles: [["CPU": 1], ["CPU": 1]], strategy: .strictSpread)
        }
        _ = await expectError(RaySystemError.self) { try await ray.placementGroup(bundles: []) }
        // Placeable in principle but not now: it waits.
        let big = try await ray.placementGroup(bundles: [["CPU": 2], ["CPU": 2]])
        let placed = try await big.wait(timeout: .milliseconds(200))
        XCTAssertFalse(placed)
        try await ray.removePlacementGroup(big)
    }

    func testTaskLargerThanItsBundleIsUnschedulable() async throws {
        let group = try await ray.placementGroup(bundles: [["CPU": 1]])
        try await group.ready()
        let error = await expectError(TaskUnschedulableError.self) {
            try await ray.get($square.options(numCPUs: 2, schedulingStrategy: .placementGroup(group)).remote(1))
        }
        XCTAssertTrue(error?.message.contains("bundle") ?? false, error?.message ?? "")
    }

    func testRemovingAGroupKillsItsActors() async throws {
        let group = try await ray.placementGroup(bundles: [["CPU": 1]])
        try await group.ready()
        let counter = try await ray.actor(Counter.self, options: ActorOptions(numCPUs: 1, schedulingStrategy: .placementGroup(group, bundleIndex: 0)))
        let first = try await counter.increment()
        XCTAssertEqual(first, 1)
        try await ray.removePlacementGroup(group)
        _ = await expectError(ActorDiedError.self) { try await ray.get(counter.remote.increment(), timeout: .seconds(30)) }
    }

    func testNodeAffinityToAMissingNode() async throws {
        let hard = $square.options(schedulingStrategy: .nodeAffinity(nodeID: "no-such-node", soft: false)).remote(2)
        _ = await expectError(TaskUnschedulableError.self) { try await ray.get(hard) }
        let soft = try await ray.get($square.options(schedulingStrategy: .nodeAffinity(nodeID: "no-such-node", soft: true)).remote(2))
        XCTAssertEqual(soft, 4)
        let here = try await ray.get($whereAmI.options(schedulingStrategy: .nodeAffinity(nodeID: ray.nodeID!, soft: false)).remote())
        XCTAssertEqual(here, ray.nodeID)
        let spread = try await ray.get((0..<4).map { _ in $square.options(schedulingStrategy: .spread).remote(5) })
        XCTAssertEqual(spread, [25, 25, 25, 25])
    }
}
