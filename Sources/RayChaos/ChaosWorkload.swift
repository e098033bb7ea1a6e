import Foundation
import SwiftRay

@Remote func chaosSquare(_ x: Int) -> Int { x * x }

/// Notes the node it runs on in `folder/slow-x-NODE` (one file per run), sleeps, returns `x * x`:
/// work still running when a fault strikes.
@Remote func chaosSlowSquare(_ x: Int, _ seconds: Double, _ folder: String) async throws -> Int {
    _ = FileManager.default.createFile(atPath: "\(folder)/slow-\(x)-\(ray.nodeID ?? "")", contents: nil)
    try await Task.sleep(for: .seconds(seconds))
    return x * x
}

/// Pure calls: any retry gives the same answer (retried forever under chaos).
@RayActor
distributed actor ChaosDoubler {
    distributed func double(_ x: Int) -> Int { 2 * x }
}

/// Calls Ray runs at most once (no task retries): each appends its id to a file before answering,
/// so a call run twice would show twice.
@RayActor
distributed actor ChaosRecorder {
    distributed func record(_ id: Int, in file: String) throws -> Int {
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { throw ChaosError("cannot open \(file)") }
        defer { close(fd) }
        let line = Array("\(id)\n".utf8)
        guard write(fd, line, line.count) == line.count else { throw ChaosError("cannot write \(file)") }
        return id
    }
}

/// A chaos workload could not be set up.
public struct ChaosError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// What a chaos run did and whether anything went wrong.
public struct ChaosReport: Sendable, CustomStringConvertible {
    /// Tasks submitted (retried forever), and those whose result was right.
    public var tasks = 0, tasksRight = 0
    /// Actor calls retried forever, and those whose result was right.
    public var retriedCalls = 0, retriedCallsRight = 0
    /// At-most-once actor calls: answered, failed with the actor's death, run more than once
    /// (must be 0), answered but never run (must be 0).
    public var onceCalls = 0, onceAnswered = 0, onceFailed = 0, duplicated = 0, answeredNotRun = 0
    /// Workers SIGKILLed meanwhile, and how long it took.
    public var kills = 0
    public var elapsed: Duration = .zero

    /// Every result right, nothing lost, nothing run twice that Ray runs at most once.
    public var clean: Bool {
        tasksRight == tasks && retriedCallsRight == retriedCalls && onceAnswered + onceFailed == onceCalls && duplicated == 0
            && answeredNotRun == 0
    }

    public var description: String {
        "\(tasks) tasks (\(tasksRight) right), \(retriedCalls) retried actor calls (\(retriedCallsRight) right), "
            + "\(onceCalls) at-most-once calls (\(onceAnswered) answered, \(onceFailed) failed with the actor's death, "
            + "\(duplicated) run twice, \(answeredNotRun) answered but not run), \(kills) workers killed, in \(elapsed)"
    }
}

/// Tasks and actor calls while a `WorkerKiller` SIGKILLs a random worker every `killEvery`
/// (Ray's chaos tests), and `midway` strikes once half-way, just before a round's work is sent (a
/// node killed, say): tasks and calls with retries must all come back right; calls without retries
/// must run at most once. Runs on the cluster this process joined (`Ray.start`).
public enum ChaosWorkload {
    /// `killEvery` nil: no worker killer. `actorsAt`: where the two actors start (nil: Ray's default).
    public static func run(
        tasks: Int, calls: Int, killEvery: Duration? = .milliseconds(100), seed: UInt64, folder: String,
        actorsAt placement: SchedulingStrategy? = nil, midway: (@Sendable () async throws -> Void)? = nil
    ) async throws -> ChaosReport {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = "\(folder)/calls-\(seed)"
        var options = ActorOptions(maxRestarts: -1, maxTaskRetries: -1)
        if let placement { options.schedulingStrategy = placement }
        let doubler = try await ray.actor(ChaosDoubler.self, options: options)
        options.maxTaskRetries = 0
        let recorder = try await ray.actor(ChaosRecorder.self, options: options)
        let killer = killEvery.map { WorkerKiller(parents: [getpid()], interval: $0, seed: seed) }
        let started = ContinuousClock.now
        killer?.start()
        var report = ChaosReport(tasks: tasks, retriedCalls: calls / 2, onceCalls: calls - calls / 2)
        var answered = Set<Int>()
        // In rounds, so calls and tasks run throughout the kills rather than all at the start.
        let rounds = 20
        for round in 0..<rounds {
            let taskRange = tasks * round / rounds..<tasks * (round + 1) / rounds
            let doubleRange = report.retriedCalls * round / rounds..<report.retriedCalls * (round + 1) / rounds
            let recordRange = report.onceCalls * round / rounds..<report.onceCalls * (round + 1) / rounds
            // The fault strikes as this round's work is sent, before the cluster has noticed it.
            if round == rounds / 2, let midway { try await midway() }
            let squares = taskRange.map { ($0, $chaosSquare.options(maxRetries: -1).remote($0)) }
            let doubles = doubleRange.map { ($0, doubler.remote.double($0)) }
            let records = recordRange.map { ($0, recorder.remote.record($0, in: file)) }
            for (x, ref) in squares where try await ray.get(ref, timeout: .seconds(300)) == x * x { report.tasksRight += 1 }
            for (x, ref) in doubles where try await ray.get(ref, timeout: .seconds(300)) == 2 * x { report.retriedCallsRight += 1 }
            for (id, ref) in records {
                do {
                    if try await ray.get(ref, timeout: .seconds(300)) == id { answered.insert(id) }
                } catch is ActorDiedError {
                    report.onceFailed += 1
                }
            }
        }
        report.kills = await killer?.stop() ?? 0
        report.elapsed = ContinuousClock.now - started
        report.onceAnswered = answered.count
        let runs = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int($0) }
        let counts = Dictionary(runs.map { ($0, 1) }, uniquingKeysWith: +)
        report.duplicated = counts.values.filter { $0 > 1 }.count
        report.answeredNotRun = answered.filter { counts[$0] == nil }.count
        return report
    }
}
