import RayTesting
import SwiftRay
import XCTest

final class TaskTests: RayTestCase {
    func testThousandTasksReturnInOrder() async throws {
        let refs = (0..<1000).map { $square.remote($0) }
        let results = try await ray.get(refs)
        XCTAssertEqual(results, (0..<1000).map { $0 * $0 })
    }

    func testSeveralArgumentsWithLabels() async throws {
        let text = try await ray.get($describe.remote(name: "a", count: 3, scale: 0.5))
        XCTAssertEqual(text, "a:3:0.5")
        let awaited1 = try await ray.get($add.remote(2, 40))
        XCTAssertEqual(awaited1, 42)
    }

    func testStaticRemoteFunction() async throws {
        let area = try await ray.get(Geometry.$area.remote(width: 2, height: 3.5))
        XCTAssertEqual(area, 7)
    }

    func testRefsAsArgumentsAreResolvedToValues() async throws {
        let a = $square.remote(3)                 // 9
        let b = try ray.put(1)
        let mixed = $add.remote(a, 5)             // ref + value
        let both = $add.remote(mixed, b)          // ref + ref
        let chained = $increment.remote($increment.remote(both))
        let awaited2 = try await ray.get(chained)
        XCTAssertEqual(awaited2, 17)
        let awaited3 = try await both.get()
        XCTAssertEqual(awaited3, 15)
    }

    func testLargeArgumentAndPutShared() async throws {
        let values = (0..<200_000).map(Double.init)
        let ref = try ray.put(values)
        let sums = try await ray.get((0..<4).map { _ in $sum.remote(ref) })
        XCTAssertEqual(sums, Array(repeating: values.reduce(0, +), count: 4))
    }

    func testFunctionWithoutResult() async throws {
        let done: RayVoid = try await ray.get($noResult.remote(1))
        XCTAssertEqual(done, RayVoid())
    }

    func testNestedFibonacciOnTwoCPUsDoesNotDeadlock() async throws {
        let awaited4 = try await ray.get($fib.remote(10), timeout: .seconds(60))
        XCTAssertEqual(awaited4, 55)
    }

    func testRefsInsideValuesStayRefs() async throws {
        let refs = try await ray.get($childRefs.remote(5))
        let awaited5 = try await ray.get(refs)
        XCTAssertEqual(awaited5, [0, 1, 4, 9, 16])
        let awaited6 = try await ray.get($sumOfRefs.remote(refs))
        XCTAssertEqual(awaited6, 30)
    }

    func testPutInsideTask() async throws {
        let inner = try await ray.get($putInTask.remote(4))
        let awaited7 = try await ray.get(inner)
        XCTAssertEqual(awaited7, 12)
    }

    func testQuickFunctionThatLaterBlocksItsThreadStillCompletesEverything() async throws {
        // Quick runs move the function onto the worker's event loop; a later run that blocks its
        // thread there must not lose or hang the tasks queued behind it or sent meanwhile.
        for _ in 0..<5 { _ = try await ray.get($blockThread.remote(0)) }
        let blocker = $blockThread.remote(300)
        let quick = (0..<20).map { _ in $blockThread.remote(0) }
        let results = try await ray.get([blocker] + quick, timeout: .seconds(60))
        XCTAssertEqual(results, [300] + Array(repeating: 0, count: 20))
        let after = try await ray.get((0..<20).map { $add.remote($0, 1) }, timeout: .seconds(60))
        XCTAssertEqual(after, Array(1...20))
    }

    func testWorkersAreReusedAcrossTasks() async throws {
        var pids = Set<Int32>()
        for i in 0..<20 { pids.insert(try await ray.get($pidOf.remote(i))) }
        XCTAssertLessThanOrEqual(pids.count, 2, "sequential tasks should reuse the prestarted workers")
        let workers = Set(await ray.workerPIDs())
        XCTAssertTrue(pids.isSubset(of: workers))
        XCTAssertFalse(pids.contains(getpid()), "tasks run in worker processes, not in the driver")
    }

    func testCustomResourcesAndOptions() async throws {
        let ref = $resourceUser.options(numCPUs: 0.5, resources: ["accelerator": 1]).remote(7)
        let awaited8 = try await ray.get(ref)
        XCTAssertEqual(awaited8, 7)
        let named = $failing.options(name: "renamed").remote(1)
        let error = await expectError(RayTaskError.self) { try await ray.get(named) }
        XCTAssertEqual(error?.functionName, "renamed")
    }

    func testABlockedTaskLendsItsCPUButNotItsOtherResources() async throws {
        let started = try await Queue<Int>(), gate = try await Queue<Int>()
        let options = (numCPUs: 1.0, resources: ["accelerator": 1.0])
        let holder = $waitAtGate.options(numCPUs: options.numCPUs, resources: options.resources).remote(started: started, gate: gate)
        _ = try await started.get()  // the holder runs and is about to block on the gate
        // The same demand while the holder waits: its CPU is lent, its one accelerator is not.
        let second = $resourceUser.options(numCPUs: options.numCPUs, resources: options.resources).remote(2)
        let (early, _) = try await ray.wait([second], timeout: .milliseconds(500))
        XCTAssertTrue(early.isEmpty, "the second accelerator task waits for the holder's accelerator")
        try await gate.put(7)
        let held = try await ray.get(holder)
        XCTAssertEqual(held, 7)
        let after = try await ray.get(second)
        XCTAssertEqual(after, 2)
        // A CPU-only task still runs on a CPU a blocked task lent (nested tasks on two CPUs).
        let fib = try await ray.get($fib.remote(6))
        XCTAssertEqual(fib, 8)
    }

    func testInfeasibleRequestIsReportedNotHung() async throws {
        let tooMany = $resourceUser.options(numCPUs: 64).remote(1)
        let error = await expectError(TaskUnschedulableError.self) { try await ray.get(tooMany, timeout: .seconds(30)) }
        XCTAssertTrue(error?.message.contains("CPU: 64") ?? false, error?.message ?? "")
        let missing = $resourceUser.options(resources: ["TPU": 1]).remote(1)
        let other = await expectError(TaskUnschedulableError.self) { try await ray.get(missing, timeout: .seconds(30)) }
        XCTAssertTrue(other?.message.contains("TPU") ?? false)
        let gpu = $resourceUser.options(numGPUs: 1).remote(1)
        _ = await expectError(TaskUnschedulableError.self) { try await ray.get(gpu, timeout: .seconds(30)) }
        // The cluster still works.
        let awaited9 = try await ray.get($square.remote(5))
        XCTAssertEqual(awaited9, 25)
    }

    func testNegativeOptionsFailClearly() async throws {
        let ref = $square.options(numCPUs: -1).remote(2)
        let error = await expectError(RaySystemError.self) { try await ray.get(ref) }
        XCTAssertTrue(error?.message.contains("negative") ?? false)
    }
}
