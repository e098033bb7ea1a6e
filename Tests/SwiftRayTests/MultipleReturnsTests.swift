import Foundation
import RayTesting
import SwiftRay
import XCTest

@Remote func sumOfDoubled(_ doubled: [Double]) -> Double { doubled.reduce(0, +) }

/// Tasks with several results (Ray's `num_returns`): one ref per result, each its own object.
final class MultipleReturnsTests: RayTestCase {
    func testATupleResultGivesOneRefPerElement() async throws {
        let values = (0..<100_000).map(Double.init)  // `big` goes to shared memory
        let (count, mean, big) = $splitStats.remote(values)
        XCTAssertNotEqual(count.id, mean.id)
        let n = try await ray.get(count)
        let average = try await ray.get(mean)
        XCTAssertEqual(n, 100_000)
        XCTAssertEqual(average, 49_999.5)
        // A consumer takes one result without the others.
        let total = try await ray.get($sumOfDoubled.remote(big))
        XCTAssertEqual(total, values.reduce(0, +) * 2)
    }

    func testEachResultIsFreedOnItsOwn() async throws {
        let values = (0..<100_000).map(Double.init)
        let baseline = try await ray.objectStoreStats().objects
        var big: ObjectRef<[Double]>?
        do {
            let (count, mean, kept) = $splitStats.remote(values)
            _ = try await ray.get([count])
            _ = try await ray.get(mean)
            big = kept
            let held = try await ray.objectStoreStats().objects
            XCTAssertEqual(held, baseline + 3)
        }
        // `count` and `mean` are gone; `big` stays.
        let settled = try await RayTesting.eventually(timeout: .seconds(10)) {
            try await ray.objectStoreStats().objects == baseline + 1
        }
        XCTAssertTrue(settled)
        let again = try await ray.get(big!)
        XCTAssertEqual(again.count, 100_000, "the remaining result lives")
        big = nil
        let freed = try await RayTesting.eventually(timeout: .seconds(10)) { try await ray.objectStoreStats().objects == baseline }
        XCTAssertTrue(freed)
    }

    func testAnErrorReachesEveryResult() async throws {
        let (first, second) = $failingPair.remote(3)
        _ = await expectError(RayTaskError.self) { try await ray.get(first) }
        _ = await expectError(RayTaskError.self) { try await ray.get(second) }
    }

    func testActorMethodsReturnSeveralResults() async throws {
        let tally = try await ray.actor(Tally.self)
        let values = (0..<100_000).map(Double.init)  // `doubled` goes to shared memory
        let (count, doubled) = tally.remote.record(values)
        XCTAssertNotEqual(count.id, doubled.id)
        let n = try await ray.get(count, timeout: .seconds(30))
        XCTAssertEqual(n, 100_000)
        let total = try await ray.get($sumOfDoubled.remote(doubled), timeout: .seconds(30))
        XCTAssertEqual(total, values.reduce(0, +) * 2, "a task takes one result without the other")
        let (again, _) = tally.remote.record([1])
        let recorded = try await ray.get(again, timeout: .seconds(30))
        XCTAssertEqual(recorded, 100_001, "the method ran on the actor's state")

        let (first, second) = tally.remote.refuse(7)
        _ = await expectError(RayTaskError.self) { try await ray.get(first, timeout: .seconds(30)) }
        _ = await expectError(RayTaskError.self) { try await ray.get(second, timeout: .seconds(30)) }

        // Cancelling through the second result drops a call that has not started (it waits
        // behind a one-second call of this one-at-a-time actor).
        let busy = tally.remote.hold(1)
        let (queuedCount, cancelled) = tally.remote.record([2])
        try ray.cancel(cancelled)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(cancelled, timeout: .seconds(30)) }
        _ = await expectError(TaskCancelledError.self) { try await ray.get(queuedCount, timeout: .seconds(30)) }
        _ = try await ray.get(busy, timeout: .seconds(30))
        let (afterCount, _) = tally.remote.record([])
        let after = try await ray.get(afterCount, timeout: .seconds(30))
        XCTAssertEqual(after, 100_001, "the cancelled call never ran")
    }

    func testCancellingThroughAnyResultCancelsTheTask() async throws {
        let (_, second) = $slowPair.remote(60)
        try ray.cancel(second)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(second, timeout: .seconds(30)) }
    }
}

@Remote func slowPair(_ seconds: Double) async throws -> (Int, Int) {
    try await Task.sleep(for: .seconds(seconds))
    return (1, 2)
}

@RayActor
distributed actor Tally {
    private var seen = 0

    /// Two results: how many values were recorded so far, and the values doubled.
    func record(_ values: [Double]) -> (count: Int, doubled: [Double]) {
        seen += values.count
        return (seen, values.map { $0 * 2 })
    }

    func refuse(_ code: Int) throws -> (Int, String) { throw Boom(code: code) }

    /// Keeps the (one-at-a-time) actor busy.
    distributed func hold(_ seconds: Double) -> Int {
        usleep(UInt32(seconds * 1_000_000))
        return 0
    }
}
