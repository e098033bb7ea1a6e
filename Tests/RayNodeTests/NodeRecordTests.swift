import NIOCore
@testable import RayNode
import XCTest

/// When a node counts as fit for new work after signs that it may be dying.
final class NodeRecordTests: XCTestCase {
    func testAnUnreachableNodeTakesWorkAgainOnlyAfterItsDaemonIsHeardTwiceLater() {
        let node = NodeRecord(id: "n", total: ["CPU": 1], isLocal: false)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        node.unreachable = (start, 0)
        XCTAssertFalse(node.schedulable)
        XCTAssertFalse(node.heard(at: start + .milliseconds(1)), "one message may have been in flight")
        XCTAssertFalse(node.heard(at: start + .milliseconds(2)), "two, but too soon to prove anything")
        XCTAssertTrue(node.heard(at: start + .milliseconds(300)))
        XCTAssertTrue(node.schedulable)
    }

    func testAWorkerDeathTheDaemonHasNotConfirmedKeepsWorkAway() {
        let node = NodeRecord(id: "n", total: ["CPU": 1], isLocal: false)
        node.unconfirmedDeaths.insert(7)
        XCTAssertFalse(node.schedulable)
        node.unconfirmedDeaths.remove(7)
        XCTAssertTrue(node.schedulable)
        node.alive = false
        XCTAssertFalse(node.schedulable)
    }
}
