import RayTesting
import SwiftRay
import XCTest

final class ObjectAPITests: RayTestCase {
    func testPutAndGet() async throws {
        struct Point: Codable, Sendable, Equatable { var x: Int; var y: Double; var label: String? }
        let point = Point(x: 1, y: 2.5, label: nil)
        let awaited1 = try await ray.get(try ray.put(point))
        XCTAssertEqual(awaited1, point)
        let awaited2 = try await ray.get(try ray.put(["a": [1, 2], "b": []]))
        XCTAssertEqual(awaited2, ["a": [1, 2], "b": []])
    }

    func testGetTimeoutThrowsGetTimeoutError() async throws {
        let slow = $sleepy.remote(30)
        let started = ContinuousClock.now
        _ = await expectError(GetTimeoutError.self) { try await ray.get(slow, timeout: .milliseconds(200)) }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
        try ray.cancel(slow)
    }

    func testGetWithTimeoutSucceedsWhenReady() async throws {
        let awaited3 = try await ray.get($square.remote(6), timeout: .seconds(30))
        XCTAssertEqual(awaited3, 36)
    }

    func testWaitReturnsReadyAndNotReady() async throws {
        let fast = [$sleepy.remote(0), $sleepy.remote(0)]
        let slow = $sleepy.remote(30)
        let all = fast + [slow]
        let (ready, notReady) = try await ray.wait(all, numReturns: 2, timeout: .seconds(20))
        XCTAssertEqual(Set(ready), Set(fast))
        XCTAssertEqual(notReady, [slow])
        // A timeout returns what is ready by then.
        let (none, pending) = try await ray.wait([slow], numReturns: 1, timeout: .milliseconds(100))
        XCTAssertTrue(none.isEmpty)
        XCTAssertEqual(pending, [slow])
        // numReturns caps the ready list.
        let (one, rest) = try await ray.wait(fast, numReturns: 1)
        XCTAssertEqual(one.count, 1)
        XCTAssertEqual(rest.count, 1)
        try ray.cancel(slow)
    }

    func testWaitRejectsBadArguments() async throws {
        let ref = $square.remote(1)
        _ = await expectError(RaySystemError.self) { try await ray.wait([ref], numReturns: 2) }
        _ = await expectError(RaySystemError.self) { try await ray.wait([ref, ref], numReturns: 1) }
    }

    func testWaitInsideTask() async throws {
        let refs = [$sleepy.remote(0), $sleepy.remote(30)]
        let awaited4 = try await ray.get($waitInTask.remote(refs))
        XCTAssertEqual(awaited4, 1)
        try ray.cancel(refs[1])
    }

    func testCancelQueuedTaskNeverRuns() async throws {
        // Both CPUs busy, so the third task queues.
        let blockers = [$sleepy.remote(30), $sleepy.remote(30)]
        let queued = $square.remote(3)
        try ray.cancel(queued)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(queued) }
        for blocker in blockers { try ray.cancel(blocker) }
        for blocker in blockers { _ = await expectError(TaskCancelledError.self) { try await ray.get(blocker) } }
        let awaited5 = try await ray.get($square.remote(4))
        XCTAssertEqual(awaited5, 16)
    }

    func testCancelRunningTaskThroughSwiftCancellation() async throws {
        let running = $sleepy.remote(60)
        _ = try await ray.wait([running], numReturns: 1, timeout: .milliseconds(200))  // let it start
        let pidsBefore = Set(await ray.workerPIDs())
        try ray.cancel(running)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(running, timeout: .seconds(30)) }
        // Cooperative cancellation keeps the worker alive.
        let awaited6 = Set(await ray.workerPIDs())
        XCTAssertEqual(awaited6, pidsBefore)
    }

    func testForceCancelKillsABusyWorker() async throws {
        let busy = $spin.remote(60)
        _ = try await ray.wait([busy], numReturns: 1, timeout: .milliseconds(200))
        try ray.cancel(busy, force: true)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(busy, timeout: .seconds(30)) }
        let awaited7 = try await ray.get($square.remote(9))
        XCTAssertEqual(awaited7, 81)
    }

    func testRecursiveCancelReachesChildren() async throws {
        let parent = $parentOfSleeper.remote(60)
        _ = try await ray.wait([parent], numReturns: 1, timeout: .milliseconds(300))
        try ray.cancel(parent)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(parent, timeout: .seconds(30)) }
        // With parent and child gone, both CPUs are free again.
        let awaited8 = try await ray.get([$sleepy.remote(0), $sleepy.remote(0)], timeout: .seconds(30))
        XCTAssertEqual(awaited8, ["slept", "slept"])
    }
}
