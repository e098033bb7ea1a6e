import Foundation
import SwiftRay
import XCTest

@RayActor
distributed actor PoolWorker {
    distributed func double(_ x: Int) -> Int { x * 2 }

    distributed func napThenDouble(_ x: Int, _ seconds: Double) async throws -> Int {
        try await Task.sleep(for: .seconds(seconds))
        return x * 2
    }

    distributed func pid() -> Int32 { getpid() }

    distributed func fail(_ x: Int) throws -> Int { throw PoolFailure(value: x) }
}

struct PoolFailure: Error { let value: Int }

/// Ray's `ActorPool` cases (`test_actor_pool.py`) on real actor processes.
final class ActorPoolTests: RayTestCase {
    private func workers(_ count: Int) async throws -> [PoolWorker] {
        var actors: [PoolWorker] = []
        for _ in 0..<count { actors.append(try await ray.actor(PoolWorker.self)) }
        return actors
    }

    func testGetNextReturnsResultsInSubmissionOrder() async throws {
        let pool = ActorPool<PoolWorker, Int>(try await workers(2))
        for value in 0..<4 { pool.submit(value) { actor, value in actor.remote.napThenDouble(value, value == 0 ? 0.3 : 0) } }
        XCTAssertFalse(pool.hasFree)
        var results: [Int] = []
        while pool.hasNext { results.append(try await pool.getNext(timeout: .seconds(30))) }
        XCTAssertEqual(results, [0, 2, 4, 6])
        XCTAssertTrue(pool.hasFree)
        let error = await expectError(ActorPoolError.self) { try await pool.getNext() }
        XCTAssertEqual(error, .nothingPending)
    }

    func testGetNextUnorderedReturnsWhatFinishesFirst() async throws {
        let pool = ActorPool<PoolWorker, Int>(try await workers(2))
        pool.submit(1) { actor, value in actor.remote.napThenDouble(value, 30) }
        pool.submit(2) { actor, value in actor.remote.napThenDouble(value, 0) }
        let first = try await pool.getNextUnordered(timeout: .seconds(20))
        XCTAssertEqual(first, 4, "the quick call finishes first")
        let error = await expectError(ActorPoolError.self) { try await pool.getNext() }
        XCTAssertEqual(error, .orderMixed)
        _ = await expectError(GetTimeoutError.self) { try await pool.getNextUnordered(timeout: .milliseconds(100)) }
        XCTAssertTrue(pool.hasNext, "a timed-out result stays pending")
    }

    func testMapKeepsOrderAndMapUnorderedYieldsEveryResult() async throws {
        for callsPerActor in [1, 4] {
            let pool = ActorPool<PoolWorker, Int>(try await workers(2), callsPerActor: callsPerActor)
            var ordered: [Int] = []
            for try await result in pool.map(0..<200, { actor, value in actor.remote.double(value) }) { ordered.append(result) }
            XCTAssertEqual(ordered, (0..<200).map { $0 * 2 })
            var unordered: [Int] = []
            for try await result in pool.mapUnordered(0..<50, { actor, value in actor.remote.double(value) }) { unordered.append(result) }
            XCTAssertEqual(unordered.sorted(), (0..<50).map { $0 * 2 })
            XCTAssertFalse(pool.hasNext)
        }
    }

    func testPopIdleAndPushChangeWhoWorks() async throws {
        let actors = try await workers(2)
        let pool = ActorPool<PoolWorker, Int>(actors)
        let taken = try XCTUnwrap(pool.popIdle())
        let remaining = actors.first { $0 !== taken }!
        XCTAssertNotNil(pool.popIdle())
        XCTAssertNil(pool.popIdle(), "both taken out")
        XCTAssertFalse(pool.hasFree)
        pool.push(remaining)
        let pidOfRemaining = try await remaining.pid()
        let pids = ActorPool<PoolWorker, Int32>([remaining])
        pids.submit { $0.remote.pid() }
        let pid = try await pids.getNext()
        XCTAssertEqual(pid, pidOfRemaining)
        pool.submit(5) { actor, value in actor.remote.double(value) }
        let doubled = try await pool.getNext()
        XCTAssertEqual(doubled, 10)
    }

    func testACallThatFailsReachesTheCallerAndTheActorReturnsToThePool() async throws {
        let pool = ActorPool<PoolWorker, Int>(try await workers(1))
        pool.submit(1) { actor, value in actor.remote.fail(value) }
        pool.submit(2) { actor, value in actor.remote.double(value) }
        let error = await expectError(RayTaskError.self) { try await pool.getNext() }
        XCTAssertTrue(error?.message.contains("PoolFailure") ?? false, error?.message ?? "")
        let next = try await pool.getNext()
        XCTAssertEqual(next, 4, "the actor took the waiting call")
    }
}
