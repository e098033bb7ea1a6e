import Foundation
import NIOCore
import RayNode
import RayNodeTesting
import RayWire
import XCTest

/// The chaos suite's deterministic half (issue 22, item 3): thousands of seeded schedules of
/// worker deaths, late exits and delayed replies on the node manager with in-process workers.
/// Every schedule is replayable from its seed: `SWIFTRAY_FAULT_SEED=N` runs just that one.
final class SeededFaultScheduleTests: XCTestCase {
    func testThousandsOfSeededSchedulesOfWorkerDeathsAndDelays() {
        let seeds: [UInt64] = ProcessInfo.processInfo.environment["SWIFTRAY_FAULT_SEED"].flatMap(UInt64.init).map { [$0] } ?? Array(0..<2000)
        var crashes = 0, executions = 0, failures = 0
        for seed in seeds {
            let run = FaultSchedule(seed: seed)
            run.play()
            for problem in run.problems() { XCTFail("seed \(seed): \(problem) (replay: SWIFTRAY_FAULT_SEED=\(seed))") }
            crashes += run.crashes
            executions += run.executions.count
            failures += run.failedTasks
        }
        print("seeded faults: \(seeds.count) schedules, \(executions) executions, \(crashes) worker deaths, \(failures) tasks out of retries")
    }
}

/// One seeded schedule: tasks submitted in waves while workers register late, answer after random
/// delays (each worker in order, as over its connection), crash mid-task, and have their exits
/// reported late; then the faults stop and everything must finish.
private final class FaultSchedule {
    let node: NodeHarness
    private var random: SeededRandom
    private var specs: [TaskSpec] = []
    /// Executions each worker holds, oldest first (a worker runs them in order).
    private var running: [Int: [TaskSpec]] = [:]
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
        node = NodeHarness(cpus: cpus, prestart: random.below(3))
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
        switch faults ? random.below(10) : 1 + random.below(6) {
        case 0: submitWave()
        case 1, 2: registerSome()
        case 3, 4, 5, 6: answerOne()
        case 7, 8: crashOne()
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
        let spec = running[worker.id]!.removeFirst()
        answered.insert(spec.taskID)
        worker.send(.taskDone(spec.taskID, .value(value(of: spec))))
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
            for case .execute(let spec) in messages {
                executions.append(spec)
                if answered.contains(spec.taskID) { afterAnswer.append(spec.taskID) }
                running[worker.id, default: []].append(spec)
            }
        }
    }

    /// Each task's result (a get of several fails as a whole on the first error, as Ray's does).
    private var results: [ObjectPayload?] { specs.map { node.results([$0.taskID])?.first } }

    var failedTasks: Int { results.filter { if case .error = $0 { true } else { false } }.count }

    /// What went wrong, if anything: a task not finished, a wrong result, an execution after
    /// the result, a repeated or skipped attempt, a failure with retries left.
    func problems() -> [String] {
        var found: [String] = []
        let results = self.results
        let waiting = results.filter { $0 == nil }.count
        if waiting > 0 { return ["\(waiting) of \(specs.count) tasks never finished"] }
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
