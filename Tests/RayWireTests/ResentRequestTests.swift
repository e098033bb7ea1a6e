import RayWire
import XCTest

/// A driver's waiting `get` or `wait` sent again to a restarted head keeps what is left of its
/// timeout: the caller's deadline holds across the two heads.
final class ResentRequestTests: XCTestCase {
    private let ids = [RayID(high: 1, low: 2)]

    func testAGetKeepsWhatIsLeftOfItsTimeout() {
        let get = WireMessage.get(requestID: 7, caller: .none, ids: ids, timeoutMillis: 3_000)
        XCTAssertEqual(get.resent(after: .milliseconds(1_200)), .get(requestID: 7, caller: .none, ids: ids, timeoutMillis: 1_800))
        XCTAssertEqual(get.resent(after: .seconds(5)), .get(requestID: 7, caller: .none, ids: ids, timeoutMillis: 0), "past its deadline: answered at once")
    }

    func testAWaitKeepsWhatIsLeftOfItsTimeout() {
        let wait = WireMessage.wait(requestID: 8, caller: .none, ids: ids, numReturns: 1, timeoutMillis: 500)
        XCTAssertEqual(wait.resent(after: .milliseconds(200)), .wait(requestID: 8, caller: .none, ids: ids, numReturns: 1, timeoutMillis: 300))
    }

    func testRequestsWithoutATimeoutAndOtherMessagesAreUnchanged() {
        let forever = WireMessage.get(requestID: 9, caller: .none, ids: ids, timeoutMillis: -1)
        XCTAssertEqual(forever.resent(after: .seconds(30)), forever)
        let kv = WireMessage.control(.kv(requestID: 10, .get(namespace: "", key: "k")))
        XCTAssertEqual(kv.resent(after: .seconds(30)), kv)
    }
}
