import NIOCore
import RayNode
import RayNodeTesting
import RayWire
import XCTest

/// The node manager's scheduling, retries, restarts, references and cancellation, run
/// deterministically: in-process workers on an `EmbeddedEventLoop`, no processes, no sleeps.
final class SchedulingTests: XCTestCase {
    func testTenThousandTasksFinishInNoTestTime() {
        let node = NodeHarness(cpus: 2, prestart: 2)
        node.registerNew()
        let start = node.loop.now
        let specs = (0..<10_000).map { _ in node.task() }
        for spec in specs { node.manager.submitOnLoop(spec, holder: nil) }
        node.loop.run()
        let ran = node.serve()
        XCTAssertEqual(ran.count, 10_000, "each task ran once")
        XCTAssertEqual(Set(ran.map(\.taskID)).count, 10_000)
        let results = node.results(specs.map(\.taskID))
        XCTAssertEqual(results, specs.map { .value(value(of: $0)) })
        XCTAssertEqual(node.processes.startOrder.count, 2, "the two registered workers did it all")
        XCTAssertLessThan(node.loop.now - start, .milliseconds(1))
    }

    func testTasksWaitForWorkersToRegisterAndRunOnePerCPU() {
        let node = NodeHarness(cpus: 2)
        let specs = (0..<2).map { _ in node.task() }
        for spec in specs { node.submit(spec) }
        XCTAssertEqual(node.processes.startOrder.count, 2, "one worker started per waiting task")
        XCTAssertTrue(node.received().isEmpty, "nothing is sent before a worker registers")
        XCTAssertNil(node.results(specs.map(\.taskID)))
        let ran = node.serve()
        XCTAssertEqual(Set(ran.map(\.taskID)), Set(specs.map(\.taskID)))
        XCTAssertEqual(Set(node.executions.map(\.worker)).count, 2, "one task per worker: each holds a CPU")
    }

    func testAWorkerDyingBeforeItRegistersCostsNoRetry() {
        let node = NodeHarness(cpus: 1)
        let spec = node.task(maxRetries: 0)
        node.submit(spec)
        let first = try! XCTUnwrap(node.processes.alive.first)
        node.processes.crash(first.id)
        node.loop.run()
        node.serve()
        XCTAssertEqual(node.results([spec.taskID]), [.value(value(of: spec))])
        XCTAssertEqual(node.executions.map(\.spec.attempt), [0], "the task never reached the dead worker")
    }

    func testAWorkerDyingMidTaskRetriesTheTaskOnANewWorker() {
        let node = NodeHarness(cpus: 1, prestart: 1)
        let spec = node.task(maxRetries: 1)
        node.submit(spec)
        // The first worker takes the task and dies with it; the next one answers.
        node.serve { worker, spec in
            guard worker.id == node.processes.startOrder[0] else { return .value(value(of: spec)) }
            node.processes.crash(worker.id)
            return nil
        }
        XCTAssertEqual(node.executions.map(\.spec.attempt), [0, 1])
        XCTAssertEqual(node.results([spec.taskID]), [.value(value(of: spec))])
        XCTAssertEqual(node.processes.startOrder.count, 2, "a replacement worker was started")
    }

    func testAWorkerDyingAfterItsResultKeepsTheResult() {
        let node = NodeHarness(cpus: 1, prestart: 1)
        let spec = node.task(maxRetries: 1)
        node.submit(spec)
        node.serve()
        node.processes.crash(node.processes.startOrder[0])
        node.loop.run()
        node.serve()
        XCTAssertEqual(node.executions.count, 1, "a finished task is not run again")
        XCTAssertEqual(node.results([spec.taskID]), [.value(value(of: spec))])
    }

    func testRetriesRunOutAsWorkerCrashedError() {
        let node = NodeHarness(cpus: 1, prestart: 1)
        let spec = node.task(maxRetries: 2)
        node.submit(spec)
        node.serve { worker, _ in
            node.processes.crash(worker.id)
            return nil
        }
        XCTAssertEqual(node.executions.map(\.spec.attempt), [0, 1, 2])
        guard case .error(let error) = node.results([spec.taskID])?.first else { return XCTFail("the task must fail") }
        XCTAssertEqual(error.kind, .workerCrashed)
        XCTAssertTrue(error.message.contains("no retries left"), error.message)
    }

    func testAConnectionLostMidBurstRunsEveryTaskExactlyOnceToCompletion() {
        let node = NodeHarness(cpus: 1, prestart: 1)
        let specs = (0..<20).map { _ in node.task(maxRetries: 1) }
        for spec in specs { node.manager.submitOnLoop(spec, holder: nil) }
        node.loop.run()
        // The first worker answers three of the burst it was sent, then its connection drops.
        var answered = 0
        node.serve { worker, spec in
            guard worker.id == node.processes.startOrder[0] else { return .value(value(of: spec)) }
            answered += 1
            if answered > 3 {
                node.processes.crash(worker.id)
                return nil
            }
            return .value(value(of: spec))
        }
        XCTAssertEqual(node.results(specs.map(\.taskID)), specs.map { .value(value(of: $0)) })
        let firstRuns = node.executions.filter { $0.worker == node.processes.startOrder[0] }.map(\.spec.taskID)
        let completedFirst = Set(firstRuns.prefix(3))
        for (index, spec) in specs.enumerated() {
            let attempts = node.executions.filter { $0.spec.taskID == spec.taskID }.map(\.spec.attempt)
            if completedFirst.contains(spec.taskID) { XCTAssertEqual(attempts, [0], "task \(index) finished before the drop") }
            XCTAssertLessThanOrEqual(attempts.count, 2, "task \(index) ran \(attempts)")
            XCTAssertEqual(attempts.last, UInt32(attempts.count - 1))
        }
    }

    func testCancellingAQueuedTaskFailsItWithoutRunningIt() {
        let node = NodeHarness(cpus: 1)
        let spec = node.task()
        node.submit(spec)
        node.manager.cancelOnLoop(spec.taskID, force: false, recursive: false)
        node.loop.run()
        node.serve()
        XCTAssertTrue(node.executions.isEmpty)
        guard case .error(let error) = node.results([spec.taskID])?.first else { return XCTFail("cancelled") }
        XCTAssertEqual(error.kind, .cancelled)
    }

    func testAnInfeasibleTaskFailsAtOnce() {
        let node = NodeHarness(cpus: 2)
        let spec = node.task(resources: ["GPU": 1])
        node.submit(spec)
        guard case .error(let error) = node.results([spec.taskID])?.first else { return XCTFail("infeasible") }
        XCTAssertEqual(error.kind, .unschedulable)
        XCTAssertTrue(node.processes.startOrder.isEmpty, "no worker is started for it")
    }

    func testWorkersThatCannotStartFailTheQueueInsteadOfHanging() {
        let node = NodeHarness(cpus: 1)
        node.processes.failStarts = true
        let spec = node.task()
        node.submit(spec)
        for _ in 0..<5 {
            node.manager.requestSchedule()
            node.loop.run()
        }
        guard case .error(let error) = node.results([spec.taskID])?.first else { return XCTFail("start failures end the wait") }
        XCTAssertTrue(error.message.contains("cannot start"), error.message)
    }

    func testIdleWorkersBeyondThePrestartedOnesStopAfterTheTimeout() {
        let node = NodeHarness(cpus: 3, prestart: 1)
        let specs = (0..<3).map { _ in node.task() }
        for spec in specs { node.submit(spec) }
        node.serve()
        XCTAssertEqual(node.processes.alive.count, 3)
        node.loop.advanceTime(by: .seconds(9))
        XCTAssertTrue(node.received().allSatisfy { !$0.1.contains(.shutdown) }, "not idle long enough yet")
        node.loop.advanceTime(by: .seconds(11))
        let told = node.received().filter { $0.1.contains(.shutdown) }
        XCTAssertEqual(told.count, 2, "all but the one prestarted worker are told to exit")
        for (worker, _) in told { node.processes.crash(worker.id) }
        node.loop.run()
        node.submit(node.task())
        XCTAssertEqual(node.serve().count, 1, "the kept worker still takes work")
        XCTAssertEqual(node.processes.startOrder.count, 3, "without starting another")
    }

    func testARecursiveCancelReachesAChildSubmittedAsTheCancelCrossedIt() {
        let node = NodeHarness(cpus: 2)
        let parent = node.task("parent")
        node.submit(parent)
        node.serve { _, _ in nil }  // the parent runs
        guard let worker = node.processes.alive.first else { return XCTFail("a worker runs the parent") }
        node.manager.cancelOnLoop(parent.taskID, force: false, recursive: true)
        // The parent's worker submitted a child before it saw the cancel.
        var child = node.task("child")
        child.parentTaskID = parent.taskID
        worker.send(.submit(child))
        node.loop.run()
        let ran = node.serve { _, spec in spec.taskID == parent.taskID ? .error(ErrorInfo(kind: .cancelled, message: "cancelled")) : nil }
        XCTAssertFalse(ran.contains { $0.taskID == child.taskID }, "the child never runs")
        guard case .error(let error) = node.results([child.taskID])?.first else { return XCTFail("the child is finished") }
        XCTAssertEqual(error.kind, .cancelled)
    }
}
