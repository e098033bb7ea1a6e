import Foundation
import SwiftRay
import Synchronization

/// What each operator of a dataset's last execution did, summed over its tasks (Ray Data's
/// `Dataset.stats()`): tasks, rows and bytes out, time in the tasks, and the largest block.
public struct OperatorStats: Sendable, Equatable {
    public var name: String
    public var tasks = 0
    public var rows = 0
    public var bytes = 0
    /// Seconds spent in this operator, summed over tasks.
    public var seconds = 0.0
    /// The largest block this operator made, in bytes.
    public var peakBlockBytes = 0
}

/// Collects operator statistics as stage tasks report them, shows them as a progress line on a
/// terminal, and publishes them for the dashboard.
final class StatsRecorder: Sendable {
    /// One execution's statistics and what the dashboard was last told.
    private struct Run {
        var operators: [OperatorStats] = []
        var status: DatasetStatus?
        var lastPublished: ContinuousClock.Instant?
    }

    private let run = Mutex(Run())
    private let progress: ProgressLine?

    init(progress: Bool = false) { self.progress = progress ? ProgressLine.onTerminal() : nil }

    /// A new execution starts: statistics cleared; published under a fresh key when `publish`.
    func reset(name: String? = nil, publish: Bool = false) {
        let status = publish ? DatasetPublisher.newStatus(name: name) : nil
        run.withLock { $0 = Run(status: status) }
    }

    /// The execution ended (`error` when it failed): the progress line, if any, gets its last
    /// state and a line end, and the dashboard the final state.
    func finish(error: (any Error)? = nil) {
        progress?.show(snapshot, final: true)
        let status: DatasetStatus? = run.withLock { run in
            guard var status = run.status, status.endedAt == nil else { return nil }
            let now = DatasetPublisher.now()
            status.state = error == nil ? "FINISHED" : "FAILED"
            status.error = error.map { "\($0)" }
            status.endedAt = now
            status.updatedAt = now
            status.operators = run.operators.map(\.published)
            run.status = status
            return status
        }
        if let status { DatasetPublisher.shared.publish(status) }
    }

    /// Adds one task's timings; operators are kept in the order first seen.
    func record(_ timings: [OperatorTiming]) {
        let due: DatasetStatus? = run.withLock { run in
            for timing in timings {
                let index = run.operators.firstIndex { $0.name == timing.name } ?? {
                    run.operators.append(OperatorStats(name: timing.name))
                    return run.operators.count - 1
                }()
                run.operators[index].tasks += 1
                run.operators[index].rows += timing.rows
                run.operators[index].bytes += timing.bytes
                run.operators[index].seconds += timing.seconds
                run.operators[index].peakBlockBytes = max(run.operators[index].peakBlockBytes, timing.bytes)
            }
            // At most four updates a second reach the key-value store.
            let now = ContinuousClock.now
            guard var status = run.status, run.lastPublished.map({ now - $0 >= .milliseconds(250) }) ?? true else { return nil }
            run.lastPublished = now
            status.updatedAt = DatasetPublisher.now()
            status.operators = run.operators.map(\.published)
            run.status = status
            return status
        }
        if let due { DatasetPublisher.shared.publish(due) }
        progress?.show(snapshot, final: false)
    }

    var snapshot: [OperatorStats] { run.withLock { $0.operators } }
}

extension OperatorStats {
    var published: DatasetOperatorStatus {
        DatasetOperatorStatus(name: name, tasks: tasks, rows: rows, bytes: bytes, seconds: seconds, peakBlockBytes: peakBlockBytes)
    }
}

extension Dataset {
    /// Per operator of this dataset's last execution (by any consumer): tasks, rows and bytes
    /// out, seconds in tasks, largest block. Empty before it has run.
    public func stats() -> [OperatorStats] { recorder.snapshot }

    /// `stats()` as a table.
    public func statsSummary() -> String {
        let rows = stats().map { s in
            "\(s.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(s.tasks).leftPadded(6)) \(String(s.rows).leftPadded(12)) "
                + "\(String(s.bytes >> 20).leftPadded(9)) \(String(format: "%9.3f", s.seconds)) \(String(s.peakBlockBytes >> 20).leftPadded(9))"
        }
        return (["Operator              tasks         rows  MiB out   seconds  peak MiB"] + rows).joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// One line on standard error, redrawn at most ten times a second: each operator's blocks and rows
/// (Ray Data's progress bars). Only when standard error is a terminal.
final class ProgressLine: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    static func onTerminal() -> ProgressLine? { isatty(STDERR_FILENO) == 1 ? ProgressLine() : nil }

    func show(_ operators: [OperatorStats], final: Bool) {
        let now = ContinuousClock.now
        let due = last.withLock { last in
            guard final || last.map({ now - $0 >= .milliseconds(100) }) ?? true else { return false }
            last = now
            return true
        }
        guard due, !operators.isEmpty else { return }
        let text = operators.map { "\($0.name): \($0.tasks) blocks, \(Self.rows($0.rows)) rows" }.joined(separator: " | ")
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text + (final ? "\n" : "")).utf8))
    }

    private static func rows(_ count: Int) -> String {
        count >= 1_000_000 ? String(format: "%.1fM", Double(count) / 1e6) : count >= 10_000 ? "\(count / 1000)k" : "\(count)"
    }
}
