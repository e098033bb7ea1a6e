import NIOCore
import RayNode
import RayNodeTesting
import RayWire
import XCTest

/// Actors (hosting, calls in order, restarts) and reference counting on the node manager, run
/// deterministically on in-process workers.
final class ActorAndReferenceTests: XCTestCase {
    private func actor(_ node: NodeHarness, maxRestarts: Int) -> ActorSpec {
        ActorSpec(
            actorID: node.newID(), typeID: "Counter", className: "Counter", initializer: "init()", args: [],
            resources: [:], maxRestarts: maxRestarts, maxTaskRetries: 0, maxConcurrency: 1, name: "", namespace: "", detached: false)
    }

    private func call(_ node: NodeHarness, _ spec: ActorSpec) -> ActorCall {
        ActorCall(callID: node.newID(), actorID: spec.actorID, dispatch: .method, method: "increment()", name: "Counter.increment", args: [])
    }

    /// Hosts actors as they are asked for, answers calls with their position in arrival order,
    /// and returns the calls each worker received.
    @discardableResult
    private func playActors(_ node: NodeHarness, crashOnCall: Int? = nil) -> [Int: [ActorCall]] {
        var calls: [Int: [ActorCall]] = [:]
        var progressed = true
        while progressed {
            progressed = false
            node.registerNew()
            for (worker, messages) in node.received() {
                for message in messages {
                    progressed = true
                    switch message {
                    case .hostActor(let spec):
                        worker.send(.actorReady(spec.actorID, error: nil))
                    case .actorCall(let call):
                        calls[worker.id, default: []].append(call)
                        if calls.values.joined().count == crashOnCall {
                            node.processes.crash(worker.id)
                        } else {
                            let count = UInt8(calls[worker.id]!.count)
                            worker.send(.taskDone(call.callID, .value(EncodedValue(bytes: [count]))))
                        }
                    default:
                        break
                    }
                }
            }
            node.loop.run()
        }
        return calls
    }

    func testActorCallsRunInOrderOnTheActorsOwnWorker() {
        let node = NodeHarness(cpus: 2)
        let spec = actor(node, maxRestarts: 0)
        var created: ErrorInfo?? = .none
        node.manager.createActorOnLoop(spec, creator: nil) { created = .some($0) }
        let calls = (0..<5).map { _ in call(node, spec) }
        for call in calls { node.manager.actorCallOnLoop(call, holder: nil) }
        node.loop.run()
        let received = playActors(node)
        XCTAssertEqual(created, .some(nil), "created")
        XCTAssertEqual(received.count, 1, "one worker hosts the actor")
        XCTAssertEqual(received.values.first?.map(\.callID), calls.map(\.callID), "in submission order")
        XCTAssertEqual(node.results(calls.map(\.callID)), (1...5).map { .value(EncodedValue(bytes: [UInt8($0)])) })
    }

    func testAnActorWhoseWorkerDiesIsRestartedOnANewWorker() {
        let node = NodeHarness(cpus: 2)
        let spec = actor(node, maxRestarts: 1)
        node.manager.createActorOnLoop(spec, creator: nil) { _ in }
        let first = call(node, spec)
        node.manager.actorCallOnLoop(first, holder: nil)
        node.loop.run()
        playActors(node, crashOnCall: 1)
        guard case .error(let lost) = node.results([first.callID])?.first else { return XCTFail("the call in flight fails") }
        XCTAssertEqual(lost.kind, .actorDied)
        let second = call(node, spec)
        node.manager.actorCallOnLoop(second, holder: nil)
        node.loop.run()
        let received = playActors(node)
        XCTAssertEqual(node.processes.startOrder.count, 2, "restarted in a new worker")
        XCTAssertEqual(received[node.processes.startOrder[1]]?.map(\.callID), [second.callID])
        XCTAssertEqual(node.results([second.callID]), [.value(EncodedValue(bytes: [1]))], "fresh state after the restart")
        let state = node.manager.stateSnapshot().actors.first
        XCTAssertEqual(state?.restarts, 1)
    }

    func testCallsMadeAfterTheActorsProcessDiedWaitForTheRestart() {
        let node = NodeHarness(cpus: 2)
        let spec = actor(node, maxRestarts: 1)
        node.manager.createActorOnLoop(spec, creator: nil) { _ in }
        node.loop.run()
        playActors(node)
        // The process dies (its channel closes) and calls arrive before its exit is reaped.
        node.processes.holdReaping = true
        node.processes.crash(node.processes.startOrder[0])
        node.loop.run()
        let calls = (0..<3).map { _ in call(node, spec) }
        for call in calls { node.manager.actorCallOnLoop(call, holder: nil) }
        node.loop.run()
        node.processes.releaseReaped()
        node.loop.run()
        let received = playActors(node)
        XCTAssertEqual(received[node.processes.startOrder[1]]?.map(\.callID), calls.map(\.callID), "all ran on the restarted actor")
        XCTAssertEqual(node.results(calls.map(\.callID)), (1...3).map { .value(EncodedValue(bytes: [UInt8($0)])) })
    }

    func testAnActorOutOfRestartsIsDeadForLaterCalls() {
        let node = NodeHarness(cpus: 2)
        let spec = actor(node, maxRestarts: 0)
        node.manager.createActorOnLoop(spec, creator: nil) { _ in }
        node.manager.actorCallOnLoop(call(node, spec), holder: nil)
        node.loop.run()
        playActors(node, crashOnCall: 1)
        let later = call(node, spec)
        node.manager.actorCallOnLoop(later, holder: nil)
        node.loop.run()
        guard case .error(let error) = node.results([later.callID])?.first else { return XCTFail("dead actor") }
        XCTAssertEqual(error.kind, .actorDied)
        XCTAssertEqual(node.processes.startOrder.count, 1, "no restart")
    }

    func testAnObjectIsFreedWhenItsLastReferenceGoes() {
        let node = NodeHarness(cpus: 1)
        let id = node.newID()
        node.manager.putOnLoop(id, .value(EncodedValue(bytes: [7])), holder: nil)
        node.manager.addRefsOnLoop([id], holder: nil)
        node.loop.run()
        XCTAssertEqual(node.results([id]), [.value(EncodedValue(bytes: [7]))])
        XCTAssertEqual(node.manager.stateSnapshot().objects.count, 1)
        node.manager.releaseRefsOnLoop([id], holder: nil)
        node.loop.run()
        XCTAssertEqual(node.manager.stateSnapshot().objects.count, 1, "one reference left")
        node.manager.releaseRefsOnLoop([id], holder: nil)
        node.loop.run()
        XCTAssertEqual(node.manager.stateSnapshot().objects.count, 0, "freed with its last reference")
    }

    func testATaskArgumentStaysAliveUntilTheTaskFinishes() {
        let node = NodeHarness(cpus: 1, prestart: 1)
        let argument = node.newID()
        node.manager.putOnLoop(argument, .value(EncodedValue(bytes: [1, 2, 3])), holder: nil)
        var spec = node.task()
        spec.args = [.ref(argument)]
        node.submit(spec)
        node.manager.releaseRefsOnLoop([argument], holder: nil)  // the driver drops its ref at once
        node.loop.run()
        XCTAssertTrue(node.manager.stateSnapshot().objects.contains { $0.objectID == "\(argument)" }, "pinned by the task")
        let ran = node.serve()
        XCTAssertEqual(ran.first?.args, [.value(EncodedValue(bytes: [1, 2, 3]))], "the worker got the value")
        XCTAssertFalse(node.manager.stateSnapshot().objects.contains { $0.objectID == "\(argument)" }, "freed after the task")
    }

    func testATaskWithSeveralResultsStoresAndFreesEachOnItsOwn() {
        let node = NodeHarness(cpus: 1, prestart: 1)
        var spec = node.task()
        spec.extraReturns = [node.newID(), node.newID()]
        node.submit(spec)
        node.serve { _, _ in nil }
        let payloads: [ObjectPayload] = (1...3).map { .value(EncodedValue(bytes: [UInt8($0)])) }
        node.processes.alive[0].send(.taskReturns(spec.taskID, payloads))
        node.loop.run()
        XCTAssertEqual(node.results(spec.returnIDs), payloads)
        node.manager.releaseRefsOnLoop([spec.extraReturns[0]], holder: nil)
        node.loop.run()
        let left = node.manager.stateSnapshot().objects.map(\.objectID)
        XCTAssertEqual(Set(left), Set([spec.taskID, spec.extraReturns[1]].map { "\($0)" }), "the dropped result alone is freed")
        // An error reaches every result.
        var failing = node.task()
        failing.extraReturns = [node.newID()]
        node.submit(failing)
        node.serve { _, _ in .error(ErrorInfo(kind: .taskError, message: "boom")) }
        XCTAssertEqual(node.results(failing.returnIDs)?.count, 2)
        XCTAssertTrue(node.results(failing.returnIDs)?.allSatisfy { if case .error = $0 { true } else { false } } ?? false)
    }

    func testCancellingACallWaitingForItsArgumentDropsItAndLetsTheNextRun() {
        let node = NodeHarness(cpus: 2)
        let spec = actor(node, maxRestarts: 0)
        node.manager.createActorOnLoop(spec, creator: nil) { _ in }
        node.loop.run()
        playActors(node)
        let blocker = node.task()  // runs and is never answered: its result stays pending
        node.submit(blocker)
        var waiting = call(node, spec)
        waiting.args = [.ref(blocker.taskID)]
        let next = call(node, spec)
        node.manager.actorCallOnLoop(waiting, holder: nil)
        node.manager.actorCallOnLoop(next, holder: nil)
        node.loop.run()
        XCTAssertTrue(playActors(node).isEmpty, "the second waits behind the first, in order")
        node.manager.cancelOnLoop(waiting.callID, force: false, recursive: false)
        node.loop.run()
        let received = playActors(node)
        XCTAssertEqual(received.values.first?.map(\.callID), [next.callID], "only the next call ran")
        guard case .error(let error) = node.results([waiting.callID])?.first else { return XCTFail("cancelled") }
        XCTAssertEqual(error.kind, .cancelled)
    }
}
