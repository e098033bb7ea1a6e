@testable import RayNode
import RayWire
import XCTest

/// Where copies of shared objects are: copies added and lost, one pull per object and node, and
/// what a node's death takes with it.
final class ObjectLocationsTests: XCTestCase {
    private let here = NodeRecord(id: "here", total: ["CPU": 1], isLocal: true)
    private let a = NodeRecord(id: "a", total: ["CPU": 1], isLocal: false)
    private let b = NodeRecord(id: "b", total: ["CPU": 1], isLocal: false)
    private let id1 = RayID(high: 5, low: 1), id2 = RayID(high: 5, low: 2)

    func testAnObjectWithoutAnEntryIsOnlyHere() {
        var locations = ObjectLocations()
        XCTAssertTrue(locations.allLocal)
        XCTAssertTrue(locations.has(id1, on: here))
        XCTAssertFalse(locations.has(id1, on: a))
        locations.copied(id1, to: a, local: here)
        XCTAssertTrue(locations.has(id1, on: here) && locations.has(id1, on: a))
        XCTAssertFalse(locations.allLocal)
        XCTAssertEqual(locations.removeAll(id1)?.map(\.id), ["here", "a"])
        XCTAssertTrue(locations.allLocal)
    }

    func testLosingCopiesOneByOneReportsTheLast() {
        var locations = ObjectLocations()
        locations.storedRemotely(id1, on: a)
        XCTAssertFalse(locations.has(id1, on: here))
        locations.copied(id1, to: b, local: here)
        XCTAssertFalse(locations.lost(id1, on: a, local: here), "b still has it")
        XCTAssertEqual(locations.holders(id1)?.map(\.id), ["b"])
        XCTAssertTrue(locations.lost(id1, on: b, local: here))
        XCTAssertNil(locations.holders(id1))
    }

    func testOneCopyPerObjectAndNodeWhateverTheNumberOfWaiters() {
        var locations = ObjectLocations()
        var heard: [String] = []
        XCTAssertFalse(locations.joinPull(id1, to: here, waiter: { _ in heard.append("never") }), "nothing under way")
        locations.startPull(id1, to: here, from: a, waiter: { _ in heard.append("first") })
        XCTAssertTrue(locations.joinPull(id1, to: here, waiter: { _ in heard.append("second") }))
        XCTAssertFalse(locations.joinPull(id1, to: b, waiter: { _ in }), "a copy to another node is another copy")
        let ended = locations.endPull(id1, to: here)
        XCTAssertTrue(ended?.source === a)
        ended?.waiters.forEach { $0(.copied) }
        XCTAssertEqual(heard, ["first", "second"])
        XCTAssertNil(locations.endPull(id1, to: here), "ended once")
    }

    func testANodesDeathTakesItsLastCopiesAndFailsCopiesToIt() {
        var locations = ObjectLocations()
        locations.storedRemotely(id1, on: a)  // only on a
        locations.storedRemotely(id2, on: a)
        locations.copied(id2, to: b, local: here)  // also on b
        locations.startPull(id2, to: a, from: b, waiter: { _ in })
        let gone = locations.nodeDied(a)
        XCTAssertEqual(gone.lastCopies, [id1])
        XCTAssertEqual(gone.pullsTo, [id2])
        XCTAssertEqual(locations.holders(id2)?.map(\.id), ["b"])
    }
}
