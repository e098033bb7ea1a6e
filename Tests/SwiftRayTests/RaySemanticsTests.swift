import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Cases of Ray's own tests (`test_basic.py`, `test_failure.py`, `test_actor_failures.py`) where
/// swift-ray once behaved differently, run against real worker processes.
final class RaySemanticsTests: RayTestCase {
    /// `test_get_throws_quickly_when_found_exception`: one failed object fails the whole `get` at
    /// once, without waiting for the others.
    func testGetOfManyThrowsAsSoonAsOneHasFailed() async throws {
        let slow = $sleepy.remote(60)
        let bad = $flakyAfter.remote(0)
        let started = ContinuousClock.now
        let error = await expectError(RayTaskError.self) { try await ray.get([slow, bad], timeout: .seconds(50)) }
        XCTAssertTrue(error?.message.contains("boom 9") ?? false, error?.message ?? "")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(20), "not held by the 60 s task")
        // Also when the failure comes while the get already waits.
        let later = $flakyAfter.remote(0.3)
        _ = await expectError(RayTaskError.self) { try await ray.get([slow, later], timeout: .seconds(50)) }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(30))
        try ray.cancel(slow, force: true)
    }

    /// `ray.wait([])` returns two empty lists.
    func testWaitOnNoRefsReturnsTwoEmptyLists() async throws {
        let none: [ObjectRef<Int>] = []
        let (ready, notReady) = try await ray.wait(none)
        XCTAssertTrue(ready.isEmpty && notReady.isEmpty)
    }

    /// `ray.wait` takes refs of different value types together.
    func testWaitTakesRefsOfDifferentTypes() async throws {
        let number = $square.remote(4)
        let text = $describe.remote(name: "x", count: 1, scale: 2)
        let slow = $sleepy.remote(30)
        let (ready, notReady) = try await ray.wait([number, text, slow], numReturns: 2, timeout: .seconds(20))
        XCTAssertEqual(ready.map(\.id), [number.id, text.id])
        XCTAssertEqual(notReady.map(\.id), [slow.id])
        let squared = try await ray.get(number)
        XCTAssertEqual(squared, 16)
        try ray.cancel(slow, force: true)
    }

    /// `test_caller_actor_restart`: calls made once the killed actor's process is gone wait for the
    /// restart and run there (none fails with the death).
    func testCallsMadeWhileAnActorRestartsRunAfterTheRestart() async throws {
        let counter = try await ray.actor(Counter.self, options: ActorOptions(maxRestarts: 1))
        let before = try await ray.get((0..<3).map { _ in counter.remote.increment() })
        XCTAssertEqual(before, [1, 2, 3])
        let pid = try await counter.pid()
        kill(pid, SIGKILL)
        try await Self.waitUntilGone(pid)
        let results = try await ray.get((0..<100).map { _ in counter.remote.increment() }, timeout: .seconds(60))
        XCTAssertEqual(results, Array(1...100), "fresh state after the restart, every call ran once")
        let newPID = try await counter.pid()
        XCTAssertNotEqual(newPID, pid)
    }

    /// A recursive cancel also reaches a child submitted while the cancel was on its way: no child
    /// keeps its CPU, so a task needing every CPU runs after. Repeated to cross the two often.
    func testRecursiveCancelCatchesAChildSubmittedAtTheSameMoment() async throws {
        for round in 0..<10 {
            let parent = $spawnHolder.remote(600)
            if round % 2 == 1 { _ = try await ray.wait([parent], numReturns: 1, timeout: .milliseconds(Int64(round * 5))) }
            try ray.cancel(parent, recursive: true)
            _ = await expectError(TaskCancelledError.self) { try await ray.get(parent, timeout: .seconds(30)) }
        }
        let everything = $resourceUser.options(numCPUs: 2).remote(1)
        let ran = try await ray.get(everything, timeout: .seconds(30))
        XCTAssertEqual(ran, 1, "no cancelled child holds a CPU")
    }

    /// `ray.cancel` on an actor call that has not started (Ray's `test_cancel.py`): it never runs;
    /// the running call before it runs to its end.
    func testCancellingAnActorCallThatHasNotStartedDropsIt() async throws {
        let counter = try await ray.actor(Counter.self, options: ActorOptions(maxConcurrency: 1))
        let running = counter.remote.slowIncrement(1)
        let queued = counter.remote.increment()
        try ray.cancel(queued)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(queued, timeout: .seconds(30)) }
        let first = try await ray.get(running, timeout: .seconds(30))
        XCTAssertEqual(first, 1, "the running call finished")
        let value = try await counter.getValue()
        XCTAssertEqual(value, 1, "the cancelled increment never ran")
    }

    /// A running call of an async actor is cancelled through Swift task cancellation; the actor
    /// serves on.
    func testCancellingARunningAsyncActorCallCancelsIt() async throws {
        let sleeper = try await ray.actor(Sleeper.self)
        let long = sleeper.remote.nap(60)
        _ = try await ray.get(sleeper.remote.nap(0))  // `long` started before this (calls start in order)
        let started = ContinuousClock.now
        try ray.cancel(long)
        _ = await expectError(TaskCancelledError.self) { try await ray.get(long, timeout: .seconds(30)) }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(20))
        let after = try await ray.get(sleeper.remote.nap(0), timeout: .seconds(10))
        XCTAssertGreaterThanOrEqual(after, 1, "the actor still serves")
    }

    /// Waits until the process `pid` has exited and been reaped (as Ray's `wait_for_pid_to_exit`).
    static func waitUntilGone(_ pid: Int32) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while kill(pid, 0) == 0 || errno != ESRCH {
            guard ContinuousClock.now < deadline else { throw StillRunning(pid: pid) }
            await Task.yield()
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

struct StillRunning: Error { let pid: Int32 }

/// Refs to objects nobody will produce fail at once instead of waiting forever.
final class UnknownObjectTests: RayTestCase {
    func testAMadeUpRefFailsGetWaitAndTasksAtOnce() async throws {
        let forged = ObjectRef<Int>(id: RayID(high: 0xDEAD, low: 0xBEEF))
        let started = ContinuousClock.now
        let error = await expectError(ObjectLostError.self) { try await ray.get(forged) }
        XCTAssertTrue(error?.message.contains("not in the cluster") ?? false, error?.message ?? "")
        let (ready, _) = try await ray.wait([forged], numReturns: 1, timeout: .seconds(30))
        XCTAssertEqual(ready.count, 1, "ready: its get fails")
        _ = await expectError(ObjectLostError.self) { try await ray.get($increment.remote(forged), timeout: .seconds(30)) }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "none of them waited")
    }

    func testARefRemadeAfterItsObjectWasFreedFails() async throws {
        var id: RayID?
        do {
            let ref = try ray.put(41)
            id = ref.id
            _ = try await ray.get(ref)
        }
        let freed = try await RayTesting.eventually(timeout: .seconds(10)) {
            try await ray.objectStoreStats().objects == 0
        }
        XCTAssertTrue(freed)
        _ = await expectError(ObjectLostError.self) { try await ray.get(ObjectRef<Int>(id: id!)) }
    }
}
