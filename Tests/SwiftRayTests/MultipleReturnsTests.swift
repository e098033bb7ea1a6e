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
