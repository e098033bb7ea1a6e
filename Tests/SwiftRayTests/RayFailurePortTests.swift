import Foundation
import RayTesting
import SwiftRay
import XCTest

/// A one-at-a-time actor for the ports of Ray's actor failure tests (Ray's `RestartableActor`).
@RayActor
distributed actor Restartable {
    private var value = 0

    /// One more; with `exit`, the process dies instead (Ray's `os._exit(-1)`).
    distributed func increase(exit: Bool) -> Int {
        if exit { _exit(1) }
        value += 1
        return value
    }

    distributed func pid() -> Int32 { getpid() }

    distributed func sleep(_ seconds: Double) -> Int {
        usleep(UInt32(seconds * 1_000_000))
        return 0
    }
}

/// Ray's `RetryableTask`: calls the actor, and dies (to be retried) until it has seen 3.
@Remote func increaseOrDie(_ actor: Restartable) async throws -> Int {
    let value = try await ray.get(actor.remote.increase(exit: false))
    if value > 2 { return value }
    _exit(0)
}

@Remote func consumeValue(_ value: Int) -> Int { value }

/// Ports of Ray's `test_actor_failures.py` and `test_failure.py` cases that swift-ray's other
/// tests did not cover, run against real worker processes, as Ray runs them.
final class RayFailurePortTests: RayTestCase {
    /// `test_actor_restart`: the process dies at call 100 of 200 (one restart allowed). Calls
    /// before ran in order; each after either fails with the death (those sent to the dying
    /// process) or ran on the restarted actor, in order from 1; past the restarts every call
    /// fails; a killed actor does not restart.
    func testActorRestart() async throws {
        let actor = try await ray.actor(Restartable.self, options: ActorOptions(maxRestarts: 1))
        var results = (0..<200).map { actor.remote.increase(exit: $0 == 100) }
        var expected = 1
        while let first = results.first, let value = try? await ray.get(first, timeout: .seconds(60)), value == expected {
            results.removeFirst()
            expected += 1
        }
        // As in Ray, calls that ran just before the death may have lost their replies with the
        // process (they fail below); the ones that came back are in order.
        XCTAssertGreaterThan(expected, 1, "calls before the death ran in order")
        XCTAssertLessThanOrEqual(expected, 101)
        while let first = results.first, await failsWithDeath(first) { results.removeFirst() }
        var after = 1
        for ref in results {
            let value = try await ray.get(ref, timeout: .seconds(60))
            XCTAssertEqual(value, after, "calls after the restart run in order on fresh state")
            after += 1
        }
        _ = actor.remote.increase(exit: true)  // the second death: no restarts left
        for _ in 0..<20 {
            _ = await expectError(ActorDiedError.self) { try await ray.get(actor.remote.increase(exit: false), timeout: .seconds(60)) }
        }
        let other = try await ray.actor(Restartable.self, options: ActorOptions(maxRestarts: 1))
        try ray.kill(other)  // Ray's `__ray_terminate__`: intentional, so no restart
        _ = await expectError(ActorDiedError.self) { try await ray.get(other.remote.increase(exit: false), timeout: .seconds(60)) }
    }

    /// `test_actor_restart_with_retry`: killed with 100 calls queued, with unlimited call retries
    /// the actor restarts and every call succeeds, the values counting on from the restart.
    func testActorRestartWithRetry() async throws {
        let actor = try await ray.actor(Restartable.self, options: ActorOptions(maxRestarts: 1, maxTaskRetries: -1))
        let pid = try await ray.get(actor.remote.pid(), timeout: .seconds(60))
        let refs = (0..<100).map { _ in actor.remote.increase(exit: false) }
        kill(pid, SIGKILL)
        try await RaySemanticsTests.waitUntilGone(pid)
        let results = try await ray.get(refs, timeout: .seconds(60))
        var restartedAt: Int?
        for (index, value) in results.enumerated() where value != index + 1 {
            if restartedAt == nil { restartedAt = index }
            XCTAssertEqual(value + restartedAt!, index + 1, "in order before and after the restart: \(results)")
        }
        let next = try await ray.get(actor.remote.increase(exit: false), timeout: .seconds(60))
        XCTAssertEqual(next, results.last! + 1)
        let again = try await ray.get(actor.remote.pid(), timeout: .seconds(60))
        kill(again, SIGKILL)
        try await RaySemanticsTests.waitUntilGone(again)
        _ = await expectError(ActorDiedError.self) { try await ray.get(actor.remote.increase(exit: false), timeout: .seconds(60)) }
    }

    /// `test_caller_task_reconstruction`: a task retried after its worker died keeps calling the
    /// same actor, which counts every call.
    func testARetriedTaskCallsTheSameActor() async throws {
        let actor = try await ray.actor(Restartable.self, options: ActorOptions(maxRestarts: 1))
        let value = try await ray.get($increaseOrDie.options(maxRetries: 5).remote(actor), timeout: .seconds(60))
        XCTAssertEqual(value, 3)
    }

    /// `test_actor_worker_dying`: a method that kills its process fails with `ActorDiedError`
    /// (ready for `wait`), and so does a task given its result.
    func testActorWorkerDying() async throws {
        let actor = try await ray.actor(Restartable.self)
        let died = actor.remote.increase(exit: true)
        let (ready, _) = try await ray.wait([died], numReturns: 1, timeout: .seconds(30))
        XCTAssertEqual(ready, [died])
        _ = await expectError(ActorDiedError.self) { try await ray.get(died) }
        _ = await expectError(ActorDiedError.self) { try await ray.get($consumeValue.remote(died), timeout: .seconds(30)) }
    }

    /// `test_actor_worker_dying_future_tasks`: calls queued when the process is killed, and calls
    /// made after, all fail.
    func testActorWorkerDyingFailsQueuedAndLaterCalls() async throws {
        let actor = try await ray.actor(Restartable.self)
        let pid = try await ray.get(actor.remote.pid(), timeout: .seconds(60))
        let before = (0..<10).map { _ in actor.remote.sleep(0.2) }
        kill(pid, SIGKILL)
        try await RaySemanticsTests.waitUntilGone(pid)
        let after = (0..<10).map { _ in actor.remote.sleep(0.2) }
        for ref in before + after {
            _ = await expectError(ActorDiedError.self) { try await ray.get(ref, timeout: .seconds(30)) }
        }
    }

    /// `test_actor_worker_dying_nothing_in_progress`: killed while idle, the next call fails.
    func testActorWorkerDyingWhileIdle() async throws {
        let actor = try await ray.actor(Restartable.self)
        let pid = try await ray.get(actor.remote.pid(), timeout: .seconds(60))
        kill(pid, SIGKILL)
        try await RaySemanticsTests.waitUntilGone(pid)
        _ = await expectError(ActorDiedError.self) { try await ray.get(actor.remote.pid(), timeout: .seconds(30)) }
    }

    /// `test_actor_scope_or_intentionally_killed_message`: the error says why the actor is gone.
    func testTheErrorSaysWhyTheActorIsGone() async throws {
        let actor = try await ray.actor(Restartable.self)
        try ray.kill(actor)
        let killed = await expectError(ActorDiedError.self) { try await ray.get(actor.remote.pid(), timeout: .seconds(30)) }
        XCTAssertTrue(killed?.message.contains("killed") ?? false, "\(String(describing: killed))")
        let crashed = try await ray.actor(Restartable.self)
        let died = crashed.remote.increase(exit: true)
        let crash = await expectError(ActorDiedError.self) { try await ray.get(died, timeout: .seconds(30)) }
        XCTAssertTrue(crash?.message.contains("exit code 1") ?? false, "\(String(describing: crash))")
    }

    private func failsWithDeath(_ ref: ObjectRef<Int>) async -> Bool {
        do {
            _ = try await ray.get(ref, timeout: .seconds(60))
            return false
        } catch {
            return error is ActorDiedError
        }
    }
}

/// Values of many shapes, for the port of `test_simple_serialization` and
/// `test_complex_serialization`.
struct Everything: Codable, Sendable, Equatable {
    enum Shape: Codable, Sendable, Equatable {
        case point
        case circle(radius: Double)
        case polygon([Shape])
    }

    var integers: [Int64] = [0, 1, -1, .max, .min]
    var unsigned: [UInt64] = [0, .max]
    var small: [Int8] = [.min, -1, 0, .max]
    var doubles: [Double] = [0, -0.0, 0.9, 1e308, -1e-308, .infinity, -.infinity]
    var floats: [Float] = [1.9, .greatestFiniteMagnitude]
    var strings: [String] = ["", "a", "\u{262F}", "hello world", "\u{FF}\u{FE}\u{9C}\u{0}1\u{0}0\u{0}", String(repeating: "x", count: 10_000)]
    var optionals: [Int?] = [nil, 3, nil]
    var nothing: String? = nil
    var flags: [Bool] = [true, false]
    var table: [String: [Int]] = ["": [], "hello": [1], "world": [2, 3]]
    var set: Set<String> = ["a", "b", "c"]
    var nested: [[[[[[Int]]]]]] = [[[[[[]]]]], [[[[[1, 2]]]]]]
    var shapes: [Shape] = [.point, .circle(radius: 2.5), .polygon([.point, .polygon([])])]
    var bytes: [UInt8] = Array(0...255)
    var empty: [String: Int] = [:]
}

@Remote func echoEverything(_ value: Everything) -> Everything { value }

extension RayFailurePortTests {
    /// `test_simple_serialization` / `test_complex_serialization`: values reach a task and come
    /// back, and go through `put`/`get`, unchanged.
    func testValuesOfEveryShapeRoundTrip() async throws {
        let value = Everything()
        let echoed = try await ray.get($echoEverything.remote(value), timeout: .seconds(60))
        XCTAssertEqual(echoed, value)
        let stored = try await ray.get(try ray.put(value))
        XCTAssertEqual(stored, value)
        let many = try await ray.get((0..<100).map { _ in $echoEverything.remote(value) }, timeout: .seconds(60))
        XCTAssertTrue(many.allSatisfy { $0 == value })
    }
}
