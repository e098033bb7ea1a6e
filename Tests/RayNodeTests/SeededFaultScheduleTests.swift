import Foundation
import NIOCore
import RayNode
import RayNodeTesting
import RayWire
import Synchronization
import XCTest

/// The chaos suite's deterministic half (issue 22, item 3): thousands of seeded schedules of
/// worker deaths, late exits and delayed replies on the node manager with in-process workers, for
/// tasks (retried) and actor calls (restarted actors, calls run at most once).
/// Every schedule is replayable from its seed: `SWIFT_DETERMINISTIC_HASHING=1 SWIFTRAY_FAULT_SEED=N`
/// runs just that one, step for step (the hashing variable fixes the node manager's dictionary order).
extension ArraySlice {
    /// Every `step`-th element from the first.
    func striding(by step: Int) -> [Element] { stride(from: startIndex, to: endIndex, by: step).map { self[$0] } }
}

final class SeededFaultScheduleTests: XCTestCase {
    func testThousandsOfSeededSchedulesOfWorkerDeathsAndDelays() {
        let seeds: [UInt64] = ProcessInfo.processInfo.environment["SWIFTRAY_FAULT_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(0..<2000)
        // Each schedule is its own node manager on its own embedded loop: the seeds split over the
        // cores (a schedule still replays alone, step for step).
        let lanes = max(1, min(seeds.count, ProcessInfo.processInfo.activeProcessorCount))
        let totals = Mutex((crashes: 0, executions: 0, failures: 0, calls: 0, callsFailed: 0, problems: [String]()))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            for seed in seeds[lane...].striding(by: lanes) {
                let run = FaultSchedule(seed: seed)
                run.play()
                let problems = run.problems().map { "seed \(seed): \($0) (replay: SWIFT_DETERMINISTIC_HASHING=1 SWIFTRAY_FAULT_SEED=\(seed))" }
                totals.withLock {
                    $0.crashes += run.crashes
                    $0.executions += run.executions.count
                    $0.failures += run.failedTasks
                    $0.calls += run.calls.count
                    $0.callsFailed += run.failedCalls
                    $0.problems += problems
                }
            }
        }
        let t = totals.withLock { $0 }
        for problem in t.problems { XCTFail(problem) }
        print("seeded faults: \(seeds.count) schedules, \(t.executions) executions, \(t.crashes) worker deaths, \(t.failures) tasks out of retries, \(t.calls) actor calls (\(t.callsFailed) failed with their actor's death)")
    }
}

/// One seeded schedule: tasks and actor calls submitted in waves while workers register late,
/// answer after random delays (each worker in order, as over its connection), crash mid-task, and
/// have their exits reported late; then the faults stop and everything must finish.
private final class FaultSchedule {
    /// Work a worker holds.
    enum Work {
        case task(TaskSpec)
        case call(ActorCall)
    }

    let node: NodeHarness
    private var random: SeededRandom
    private var specs: [TaskSpec] = []
    private var actors: [ActorSpec] = []
    private(set) var calls: [ActorCall] = []
    /// How often each call reached a worker (at most once: no task retries).
    private var callRuns: [TaskID: Int] = [:]
    /// Work each worker holds, oldest first (a worker runs it in order).
    private var running: [Int: [Work]] = [:]
    private var registered: Set<Int> = []
    /// Tasks whose result was delivered, and executions seen after it (must be none).
    private var answered: Set<TaskID> = []
    private var afterAnswer: [TaskID] = []
    private(set) var crashes = 0
    /// Every execution the node manager sent, in order.
    private(set) var executions: [TaskSpec] = []

    init(seed: UInt64) {
        random = SeededRandom(seed: seed)
        let cpus = Double(1 + random.below(3))
        node = NodeHarness(cpus: cpus + 2, prestart: random.below(3))
        for _ in 0..<(1 + random.below(2)) {
            let spec = ActorSpec(
                actorID: node.newID(), typeID: "Counter", className: "Counter", initializer: "init()", args: [], resources: ["CPU": 1],
                maxRestarts: -1, maxTaskRetries: 0, maxConcurrency: 1, name: "", namespace: "", detached: false)
            actors.append(spec)
            node.manager.createActorOnLoop(spec, creator: nil) { _ in }
        }
        node.loop.run()
    }

    func play() {
        for _ in 0..<(20 + random.below(60)) { step(faults: true) }
        node.processes.holdReaping = false
        node.processes.releaseReaped()
        node.loop.run()
        var quiet = 0, rounds = 0
        while quiet < 3, rounds < 1000 {
            rounds += 1
            let before = executions.count + answered.count
            for _ in 0..<50 { step(faults: false) }
            node.loop.advanceTime(by: .seconds(2))
            quiet = executions.count + answered.count == before ? quiet + 1 : 0
        }
    }

    /// One random action; without faults only registering and answering (the tail of a run).
    private func step(faults: Bool) {
        switch faults ? random.below(11) : 1 + random.below(6) {
        case 0: submitWave()
        case 1, 2: registerSome()
        case 3, 4, 5, 6: answerOne()
        case 7, 8: crashOne()
        case 9: callWave()
        default: toggleReaping()
        }
        collect()
    }

    private func submitWave() {
        for _ in 0..<(1 + random.below(6)) {
            let spec = node.task(maxRetries: random.below(4))
            specs.append(spec)
            node.manager.submitOnLoop(spec, holder: nil)
        }
        node.loop.run()
    }

    private func callWave() {
        for _ in 0..<(1 + random.below(4)) {
            let actor = actors[random.below(actors.count)]
            let call = ActorCall(callID: node.newID(), actorID: actor.actorID, dispatch: .method, method: "increment()", name: "Counter.increment", args: [])
            calls.append(call)
            node.manager.actorCallOnLoop(call, holder: nil)
        }
        node.loop.run()
    }

    private func registerSome() {
        for worker in node.processes.alive where random.below(2) == 0 && registered.insert(worker.id).inserted {
            worker.send(.register(pid: worker.pid))
        }
        node.loop.run()
    }

    /// A random worker finishes the oldest execution it holds.
    private func answerOne() {
        let busy = node.processes.alive.filter { !(running[$0.id] ?? []).isEmpty }
        guard !busy.isEmpty else { return }
        let worker = busy[random.below(busy.count)]
        switch running[worker.id]!.removeFirst() {
        case .task(let spec):
            answered.insert(spec.taskID)
            worker.send(.taskDone(spec.taskID, .value(value(of: spec))))
        case .call(let call):
            worker.send(.taskDone(call.callID, .value(Self.answer(to: call))))
        }
        node.loop.run()
    }

    private func crashOne() {
        collect()  // what it was sent before it dies counts as sent
        let alive = node.processes.alive
        guard !alive.isEmpty else { return }
        let worker = alive[random.below(alive.count)]
        running[worker.id] = nil
        node.processes.crash(worker.id)
        crashes += 1
        node.loop.run()
    }

    private func toggleReaping() {
        node.processes.holdReaping.toggle()
        if !node.processes.holdReaping { node.processes.releaseReaped() }
        node.loop.run()
    }

    /// Executions the node manager sent since the last look.
    private func collect() {
        for (worker, messages) in node.received() {
            if !registered.contains(worker.id) { registered.insert(worker.id) }
            for message in messages {
                switch message {
                case .execute(let spec):
                    executions.append(spec)
                    if answered.contains(spec.taskID) { afterAnswer.append(spec.taskID) }
                    running[worker.id, default: []].append(.task(spec))
                case .hostActor(let spec):
                    worker.send(.actorReady(spec.actorID, error: nil))
                case .actorCall(let call):
                    callRuns[call.callID, default: 0] += 1
                    running[worker.id, default: []].append(.call(call))
                default:
                    break
                }
            }
        }
    }

    /// Each task's result (a get of several fails as a whole on the first error, as Ray's does).
    private var results: [ObjectPayload?] { specs.map { node.results([$0.taskID])?.first } }

    var failedTasks: Int { results.filter { if case .error = $0 { true } else { false } }.count }

    var failedCalls: Int { calls.filter { if case .error = node.results([$0.callID])?.first { true } else { false } }.count }

    /// What a call answers: its id's low word.
    static func answer(to call: ActorCall) -> EncodedValue {
        withUnsafeBytes(of: call.callID.low.littleEndian) { EncodedValue(bytes: Array($0)) }
    }

    /// What went wrong, if anything: a task not finished, a wrong result, an execution after
    /// the result, a repeated or skipped attempt, a failure with retries left.
    func problems() -> [String] {
        var found: [String] = []
        let results = self.results
        let waiting = results.filter { $0 == nil }.count
        if waiting > 0 { return ["\(waiting) of \(specs.count) tasks never finished"] }
        for call in calls {
            let runs = callRuns[call.callID] ?? 0
            if runs > 1 { found.append("call \(call.callID) ran \(runs) times") }
            switch node.results([call.callID])?.first {
            case .value(let got) where got == Self.answer(to: call) && runs == 1: break
            case .error(let error) where error.kind == .actorDied: break
            case let other: found.append("call \(call.callID) (ran \(runs) times) ended as \(String(describing: other))")
            }
        }
        if !afterAnswer.isEmpty { found.append("\(afterAnswer.count) executions of tasks already answered") }
        for (spec, result) in zip(specs, results) {
            let attempts = executions.filter { $0.taskID == spec.taskID }.map(\.attempt)
            if attempts != (0..<UInt32(attempts.count)).map({ $0 }) { found.append("task \(spec.taskID) ran attempts \(attempts)") }
            switch result! {
            case .value(let got) where got == value(of: spec): break
            case .error(let error) where error.kind == .workerCrashed && attempts.count == spec.maxRetries + 1: break
            default: found.append("task \(spec.taskID) (max retries \(spec.maxRetries), attempts \(attempts)) ended as \(result!)")
            }
        }
        return found
    }
}

extension SeededRandom {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
