@testable import RayNode
import RayWire
import XCTest

/// Placement group strategies on given nodes, all-or-nothing reservation, and the waiting order.
final class PlacementGroupsTests: XCTestCase {
    private func nodes(_ cpus: [Double]) -> [NodeRecord] {
        cpus.enumerated().map { NodeRecord(id: "n\($0.offset)", total: ["CPU": $0.element], isLocal: $0.offset == 0) }
    }
    private func spec(_ n: UInt64, _ bundles: [[String: Double]], _ strategy: PlacementGroupStrategy) -> PlacementGroupSpec {
        PlacementGroupSpec(id: RayID(high: 4, low: n), bundles: bundles, strategy: strategy, name: "")
    }
    private func ids(_ chosen: [NodeRecord]?) -> [String]? { chosen?.map(\.id) }

    func testEachStrategyChoosesNodesAsRayDoes() {
        let live = nodes([4, 4, 4])
        let two = [["CPU": 1.0], ["CPU": 1.0]]
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, two, .pack), live: live)), ["n0", "n0"])
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, two, .spread), live: live)), ["n0", "n1"])
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, two, .strictSpread), live: live)), ["n0", "n1"])
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, [["CPU": 3], ["CPU": 3]], .pack), live: live)), ["n0", "n1"], "PACK spills over")
        XCTAssertNil(PlacementGroups.bundleNodes(spec(1, [["CPU": 3], ["CPU": 3]], .strictPack), live: live), "STRICT_PACK never spills")
        XCTAssertNil(PlacementGroups.bundleNodes(spec(1, Array(repeating: ["CPU": 1], count: 4), .strictSpread), live: live))
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, Array(repeating: ["CPU": 1], count: 4), .spread), live: live)), ["n0", "n1", "n2", "n0"])
    }

    func testGroupsThatCanNeverFitAreNamedAsSuch() {
        let live = nodes([2, 2])
        XCTAssertNotNil(PlacementGroups.problem(spec(1, [["CPU": 3]], .pack), live: live))
        XCTAssertNotNil(PlacementGroups.problem(spec(1, [["GPU": 1]], .pack), live: live))
        XCTAssertNotNil(PlacementGroups.problem(spec(1, Array(repeating: ["CPU": 1], count: 3), .strictSpread), live: live))
        XCTAssertNotNil(PlacementGroups.problem(spec(1, [["CPU": 2], ["CPU": 1]], .strictPack), live: live))
        XCTAssertNil(PlacementGroups.problem(spec(1, [["CPU": 2], ["CPU": 2]], .pack), live: live), "fits once the nodes are free")
    }

    func testWaitingGroupsArePlacedAllOrNothingInCreationOrder() {
        let live = nodes([2])
        var groups = PlacementGroups()
        groups.add(spec(1, [["CPU": 2]], .pack))
        groups.add(spec(2, [["CPU": 1], ["CPU": 1]], .pack))
        groups.add(spec(3, [["CPU": 0.5]], .pack))
        let placed = groups.placeWaiting(on: live)
        XCTAssertEqual(placed.map(\.spec.id.low), [1], "the first takes the node; the rest wait whole")
        XCTAssertEqual(live[0].available["CPU"] ?? 0, 0)
        XCTAssertTrue(groups[RayID(high: 4, low: 1)]?.isPlaced ?? false)
        XCTAssertFalse(groups[RayID(high: 4, low: 2)]?.isPlaced ?? true)
        live[0].available.add(["CPU": 2])  // the first group was removed
        XCTAssertEqual(groups.placeWaiting(on: live).map(\.spec.id.low), [2], "the second fits whole, then nothing is left for the third")
        XCTAssertEqual(groups.waiting.count, 1)
        XCTAssertEqual(groups[RayID(high: 4, low: 2)]?.bundles.count, 2)
    }

    func testPinnedBundlesGoOnTheirNodesUnderEachStrategy() {
        let live = nodes([4, 4, 4])
        let two = [["CPU": 1.0], ["CPU": 1.0]]
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, two, .pack), live: live, pinned: [1: live[2]])), ["n2", "n2"], "PACK joins the pinned node")
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, two, .strictPack), live: live, pinned: [0: live[1]])), ["n1", "n1"])
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, two, .strictSpread), live: live, pinned: [0: live[0], 1: live[0]])), ["n0", "n1"], "never two on one node")
        XCTAssertEqual(ids(PlacementGroups.bundleNodes(spec(1, [["CPU": 5.0]], .pack), live: live, pinned: [0: live[2]])), nil, "a pin does not make room")
    }

    func testAStrayLeaseMovesIntoItsBundleAndIsCountedOnce() {
        let live = nodes([2, 2])
        live[1].available.subtract(["CPU": 1])  // an actor of the group re-attached on n1, holding from the node
        var moved: BundleRecord?
        let stray = StrayLease(bundleIndex: 0, node: live[1], amounts: ["CPU": 1]) { moved = $0 }
        var groups = PlacementGroups()
        groups.add(spec(1, [["CPU": 2]], .pack))
        let placed = groups.placeWaiting(on: live, strays: [RayID(high: 4, low: 1): [stray]])
        XCTAssertEqual(placed.first?.bundles.map(\.node.id), ["n1"], "the bundle goes where its actor runs, though n0 comes first")
        XCTAssertEqual(live[1].available["CPU"] ?? -1, 0, "the bundle's 2 CPUs, the actor's inside them")
        XCTAssertEqual(live[0].available["CPU"] ?? -1, 2)
        XCTAssertTrue(moved === placed.first?.bundles.first)
        XCTAssertEqual(moved?.available["CPU"] ?? -1, 1)
    }

    func testAGroupHeldUntilRecoveryWaits() {
        let live = nodes([2])
        var groups = PlacementGroups()
        groups.add(spec(1, [["CPU": 1]], .pack))
        groups[RayID(high: 4, low: 1)]?.heldUntilRecovered = true
        XCTAssertTrue(groups.placeWaiting(on: live).isEmpty)
        groups[RayID(high: 4, low: 1)]?.heldUntilRecovered = false
        XCTAssertEqual(groups.placeWaiting(on: live).count, 1)
    }
}
