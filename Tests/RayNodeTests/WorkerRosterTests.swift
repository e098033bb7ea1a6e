import NIOCore
@testable import RayNode
import RayWire
import XCTest

/// The worker pool's bookkeeping: starting counts, start failures in a row, idle workers taken
/// warmest first on the best node, and which idle workers time out.
final class WorkerRosterTests: XCTestCase {
    private let here = NodeRecord(id: "here", total: ["CPU": 4], isLocal: true)
    private let there = NodeRecord(id: "there", total: ["CPU": 4], isLocal: false)
    private let pool = WorkerPool(executable: "w")

    private func worker(_ roster: inout WorkerRoster, on node: NodeRecord? = nil, role: WorkerRole = .tasks) -> WorkerHandle {
        let worker = WorkerHandle(id: roster.newID(), pid: 100, node: node ?? here, pool: pool, role: role)
        roster.add(worker)
        return worker
    }

    func testWorkersCountAsStartingUntilTheyRegisterOrExit() {
        var roster = WorkerRoster()
        let a = worker(&roster), b = worker(&roster)
        XCTAssertNotEqual(a.id, b.id)
        XCTAssertEqual(roster.starting, 2)
        XCTAssertEqual(roster.startingCount(pool, on: here), 2)
        roster.registered(a)
        roster.registered(a)  // a second hello changes nothing
        XCTAssertEqual(roster.starting, 1)
        roster.remove(b)  // died before registering
        XCTAssertEqual(roster.starting, 0)
        XCTAssertNil(roster[b.id])
        roster.remove(b)
        XCTAssertEqual(roster.starting, 0, "removing twice does not count twice")
    }

    func testStartFailuresCountInARowUntilAWorkerRegisters() {
        var roster = WorkerRoster()
        let a = worker(&roster)
        XCTAssertEqual(roster.startFailed().inARow, 1)
        XCTAssertEqual(roster.startFailed().inARow, 2)
        XCTAssertTrue(roster.startFailed().noneRegistered)
        roster.registered(a)
        let after = roster.startFailed()
        XCTAssertEqual(after.inARow, 1)
        XCTAssertFalse(after.noneRegistered)
    }

    func testStartingWorkersKilledFromOutsideCountATenthOfAFailure() {
        var roster = WorkerRoster()
        _ = worker(&roster)
        for _ in 0..<9 { XCTAssertEqual(roster.startFailed(killed: true).inARow, 0) }
        XCTAssertEqual(roster.startFailed(killed: true).inARow, 1, "ten kills count as one failure")
        XCTAssertEqual(roster.startFailed().inARow, 2)
    }

    func testTheMostRecentlyIdleWorkerOnTheFirstFittingNodeIsTaken() {
        var roster = WorkerRoster()
        let a = worker(&roster), b = worker(&roster), far = worker(&roster, on: there)
        for w in [a, b, far] {
            roster.registered(w)
            roster.markIdleIfFree(w)
        }
        XCTAssertTrue(roster.hasIdle(pool, on: there))
        let first = roster.takeIdle(pool, for: [.node(there), .node(here)])
        XCTAssertTrue(first?.0 === far)
        XCTAssertTrue(first?.1.node === there)
        XCTAssertFalse(roster.hasIdle(pool, on: there))
        XCTAssertTrue(roster.takeIdle(pool, for: [.node(there), .node(here)])?.0 === b, "warmest first")
        a.running.insert(RayID(high: 1, low: 1))  // given work some other way: its idle entry is stale
        XCTAssertNil(roster.takeIdle(pool, for: [.node(here)]))
        XCTAssertNil(roster.takeIdle(WorkerPool(executable: "other"), for: [.node(here)]))
    }

    func testIdleWorkersTimeOutLongestIdleFirstKeepingThePrestartedOnes() {
        var roster = WorkerRoster()
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let workers = (0..<4).map { n in
            let w = worker(&roster)
            roster.registered(w)
            w.idleSince = start + .seconds(Int64(n))
            return w
        }
        let actor = worker(&roster, role: .actor(RayID(high: 2, low: 2)))
        roster.registered(actor)
        actor.idleSince = start
        let expired = roster.idleTooLong(now: start + .seconds(12), timeout: .seconds(10), keep: 1)
        XCTAssertEqual(expired.map(\.id), [workers[0].id, workers[1].id, workers[2].id], "idle ≥10 s, longest first; actors never")
        XCTAssertEqual(roster.idleTooLong(now: start + .seconds(20), timeout: .seconds(10), keep: 1).count, 3, "one of four kept warm")
        workers[3].retiring = true
        XCTAssertEqual(roster.idleTooLong(now: start + .seconds(20), timeout: .seconds(10), keep: 1).count, 2)
    }
}
