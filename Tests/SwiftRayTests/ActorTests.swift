import RayTesting
import SwiftRay
import XCTest

final class ActorTests: RayTestCase {
    func testSeedCounter() async throws {
        let counter = try await ray.actor(Counter.self)
        let futures = (0..<5).map { _ in counter.remote.increment() }
        let results = try await ray.get(futures)
        XCTAssertEqual(results, [1, 2, 3, 4, 5])
        let value = try await counter.getValue()
        XCTAssertEqual(value, 5)
    }

    func testEachActorHasItsOwnProcessAndManyFitOnTwoCPUs() async throws {
        let counters = try await withThrowingTaskGroup(of: Counter.self) { group in
            for _ in 0..<6 { group.addTask { try await ray.actor(Counter.self) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let pids = try await ray.get(counters.map { $0.remote.pid() })
        XCTAssertEqual(Set(pids).count, 6)
        XCTAssertFalse(pids.contains(getpid()))
        // Actors hold no CPU by default: tasks still run.
        let squared = try await ray.get($square.remote(7))
        XCTAssertEqual(squared, 49)
    }

    func testCallsFromOneCallerRunInSubmissionOrder() async throws {
        let recorder = try await ray.actor(Recorder.self)
        let counts = try await ray.get((0..<300).map { recorder.remote.append($0) })
        XCTAssertEqual(counts, Array(1...300))
        let items = try await recorder.all()
        XCTAssertEqual(items, Array(0..<300))
    }

    func testAsyncActorStartsCallsInSubmissionOrder() async throws {
        let counter = try await ray.actor(Counter.self)  // has an async method: maxConcurrency 1000
        let values = try await ray.get((0..<300).map { _ in counter.remote.increment() })
        XCTAssertEqual(values, Array(1...300))
    }

    func testRefArgumentsKeepOrderEvenWhenLate() async throws {
        let recorder = try await ray.actor(Recorder.self)
        let late = $sleepy.remote(0.3)  // a slow producer
        let lateValue = $add.remote(try ray.put(1), 0)
        _ = late
        let first = recorder.remote.append(lateValue)        // waits for its argument
        let second = recorder.remote.append(2)               // must still run after `first`
        _ = try await ray.get([first, second])
        let items = try await recorder.all()
        XCTAssertEqual(items, [1, 2])
    }

    func testActorRefsFlowIntoTasksAndWait() async throws {
        let counter = try await ray.actor(Counter.self)
        let ref = counter.remote.add(10)
        let doubled = $add.remote(ref, ref)
        let total = try await ray.get(doubled)
        XCTAssertEqual(total, 20)
        let (ready, _) = try await ray.wait([counter.remote.increment()], numReturns: 1, timeout: .seconds(30))
        XCTAssertEqual(ready.count, 1)
    }

    func testHandlesPassToTasksAndOtherActors() async throws {
        let counter = try await ray.actor(Counter.self)
        let viaTask = try await ray.get($incrementThrough.remote(counter))
        XCTAssertEqual(viaTask, 1)
        let accumulator = try await Accumulator.create(start: 0, label: "acc")
        let viaActor = try await accumulator.bump(counter)
        XCTAssertEqual(viaActor, 2)
        let viaRemote = try await ray.get(accumulator.remote.bump(counter))
        XCTAssertEqual(viaRemote, 3)
        let value = try await counter.getValue()
        XCTAssertEqual(value, 3)
    }

    func testConstructorArguments() async throws {
        let accumulator = try await Accumulator.create(start: 10, label: "sum")
        let text = try await ray.get(accumulator.remote.add([1, 2, 3]))
        XCTAssertEqual(text, "sum=16")
    }

    func testAsyncActorRunsCallsConcurrently() async throws {
        let sleeper = try await ray.actor(Sleeper.self)
        _ = try await ray.get((0..<8).map { _ in sleeper.remote.nap(0.2) })
        let peak = try await sleeper.peak()
        XCTAssertGreaterThan(peak, 1, "async actors default to maxConcurrency 1000")

        let serial = try await ray.actor(Sleeper.self, options: ActorOptions(maxConcurrency: 1))
        _ = try await ray.get((0..<4).map { _ in serial.remote.nap(0.05) })
        let serialPeak = try await serial.peak()
        XCTAssertEqual(serialPeak, 1)

        let pair = try await ray.actor(Sleeper.self, options: ActorOptions(maxConcurrency: 2))
        _ = try await ray.get((0..<6).map { _ in pair.remote.nap(0.05) })
        let pairPeak = try await pair.peak()
        XCTAssertEqual(pairPeak, 2, "at most maxConcurrency calls run at once")
    }

    func testNamedActors() async throws {
        let counter = try await ray.actor(Counter.self, options: ActorOptions(name: "shared"))
        _ = try await counter.increment()
        let found = try await ray.getActor(Counter.self, name: "shared")
        let value = try await found.increment()
        XCTAssertEqual(value, 2)
        let fromTask = try await ray.get($incrementByName.remote("shared"))
        XCTAssertEqual(fromTask, 3)
        // A duplicate name is an error; other namespaces are separate.
        _ = await expectError(RaySystemError.self) { try await ray.actor(Counter.self, options: ActorOptions(name: "shared")) }
        _ = try await ray.actor(Counter.self, options: ActorOptions(name: "shared", namespace: "other"))
        _ = await expectError(RaySystemError.self) { try await ray.getActor(Counter.self, name: "missing") }
        _ = await expectError(RaySystemError.self) { try await ray.getActor(Recorder.self, name: "shared") }
        // Once killed, the name is free again.
        try ray.kill(found)
        _ = await expectError(ActorDiedError.self) { try await ray.get(counter.remote.increment(), timeout: .seconds(30)) }
        let again = try await ray.actor(Counter.self, options: ActorOptions(name: "shared"))
        let fresh = try await again.increment()
        XCTAssertEqual(fresh, 1)
    }

    func testDetachedActorOutlivesItsCreator() async throws {
        let creator = try await ray.get($createOwnedActors.remote("life"))
        let detached = try await ray.getActor(Counter.self, name: "life-detached")
        let owned = try await ray.getActor(Counter.self, name: "life-owned")
        kill(creator, SIGKILL)
        let ownedDied = await RayTesting.eventually(timeout: .seconds(20)) {
            do {
                _ = try await ray.get(owned.remote.getValue(), timeout: .seconds(5))
                return false
            } catch is ActorDiedError {
                return true
            } catch {
                return false
            }
        }
        XCTAssertTrue(ownedDied, "a non-detached actor goes with its creator")
        let value = try await ray.get(detached.remote.increment(), timeout: .seconds(30))
        XCTAssertEqual(value, 2)
    }

    func testMethodErrorReachesCallerAndActorLivesOn() async throws {
        let counter = try await ray.actor(Counter.self)
        _ = try await counter.increment()
        let error = await expectError(RayTaskError.self) { try await ray.get(counter.remote.fail("nope")) }
        XCTAssertEqual(error?.errorType, "ActorTestError")
        XCTAssertEqual(error?.message, "nope")
        XCTAssertEqual(error?.functionName, "Counter.fail")
        let direct = await expectError(RayTaskError.self) { try await counter.fail("direct") }
        XCTAssertEqual(direct?.message, "direct")
        let value = try await counter.increment()
        XCTAssertEqual(value, 2, "state survives a thrown error")
    }

    func testConstructorErrorKillsTheActorWithItsCause() async throws {
        let broken = try await Broken.create(reason: "no model file")
        let error = await expectError(ActorDiedError.self) { try await ray.get(broken.remote.hello(), timeout: .seconds(30)) }
        XCTAssertTrue(error?.message.contains("no model file") ?? false, error?.message ?? "")
        let again = await expectError(ActorDiedError.self) { try await broken.hello() }
        XCTAssertNotNil(again)
    }

    func testKilledActorRestartsWithFreshStateUnderMaxRestarts() async throws {
        // maxTaskRetries covers a call that reaches the process between the kill and its detection.
        let counter = try await ray.actor(Counter.self, options: ActorOptions(maxRestarts: 1, maxTaskRetries: 1))
        _ = try await ray.get([counter.remote.increment(), counter.remote.increment()])
        let firstPid = try await counter.pid()
        kill(firstPid, SIGKILL)
        // The next call reaches the restarted actor (its constructor ran again).
        let afterRestart = try await ray.get(counter.remote.increment(), timeout: .seconds(30))
        XCTAssertEqual(afterRestart, 1)
        let secondPid = try await counter.pid()
        XCTAssertNotEqual(firstPid, secondPid)
        // Restarts are used up: the next death is final.
        kill(secondPid, SIGKILL)
        let error = await expectError(ActorDiedError.self) {
            var result = 0
            for _ in 0..<100 { result = try await ray.get(counter.remote.increment(), timeout: .seconds(30)) }
            return result
        }
        XCTAssertTrue(error?.message.contains("signal 9") ?? false, error?.message ?? "")
    }

    func testKilledActorWithoutRestartsIsDeadAndCallsFailAtOnce() async throws {
        let counter = try await ray.actor(Counter.self)
        let pid = try await counter.pid()
        let pending = counter.remote.slowIncrement(30)
        _ = try await ray.wait([pending], numReturns: 1, timeout: .milliseconds(200))
        kill(pid, SIGKILL)
        _ = await expectError(ActorDiedError.self) { try await ray.get(pending, timeout: .seconds(30)) }
        let started = ContinuousClock.now
        _ = await expectError(ActorDiedError.self) { try await ray.get(counter.remote.increment(), timeout: .seconds(30)) }
        _ = await expectError(ActorDiedError.self) { try await counter.getValue() }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
    }

    func testInFlightCallIsRetriedAfterRestartWithMaxTaskRetries() async throws {
        let counter = try await ray.actor(Counter.self, options: ActorOptions(maxRestarts: 1, maxTaskRetries: 1))
        let pid = try await counter.pid()
        let call = counter.remote.slowIncrement(0.5)
        _ = try await ray.wait([call], numReturns: 1, timeout: .milliseconds(100))
        kill(pid, SIGKILL)
        let value = try await ray.get(call, timeout: .seconds(30))
        XCTAssertEqual(value, 1, "the call ran again on the restarted actor")
    }

    func testRayKillWithRestartAllowed() async throws {
        let counter = try await ray.actor(Counter.self, options: ActorOptions(maxRestarts: 2))
        _ = try await counter.add(5)
        try ray.kill(counter, noRestart: false)
        let value = try await ray.get(counter.remote.getValue(), timeout: .seconds(30))
        XCTAssertEqual(value, 0)
    }

    func testActorResourcesAreHeldWhileItLives() async throws {
        let heavy = try await ray.actor(Counter.self, options: ActorOptions(numCPUs: 2))
        _ = try await heavy.increment()
        let task = $square.remote(3)
        let (ready, _) = try await ray.wait([task], numReturns: 1, timeout: .milliseconds(300))
        XCTAssertTrue(ready.isEmpty, "both CPUs are held by the actor")
        try ray.kill(heavy)
        let result = try await ray.get(task, timeout: .seconds(30))
        XCTAssertEqual(result, 9)
    }

    func testInfeasibleActorIsReported() async throws {
        _ = await expectError(TaskUnschedulableError.self) { try await ray.actor(Counter.self, options: ActorOptions(numGPUs: 1)) }
        _ = await expectError(RaySystemError.self) { try await ray.actor(Counter.self, options: ActorOptions(maxConcurrency: 0)) }
    }
}
