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

/// Collects operator statistics as stage tasks report them.
final class StatsRecorder: Sendable {
    private let operators = Mutex<[OperatorStats]>([])

    func reset() { operators.withLock { $0 = [] } }

    /// Adds one task's timings; operators are kept in the order first seen.
    func record(_ timings: [OperatorTiming]) {
        operators.withLock { operators in
            for timing in timings {
                let index = operators.firstIndex { $0.name == timing.name } ?? {
                    operators.append(OperatorStats(name: timing.name))
                    return operators.count - 1
                }()
                operators[index].tasks += 1
                operators[index].rows += timing.rows
                operators[index].bytes += timing.bytes
                operators[index].seconds += timing.seconds
                operators[index].peakBlockBytes = max(operators[index].peakBlockBytes, timing.bytes)
            }
        }
    }

    var snapshot: [OperatorStats] { operators.withLock { $0 } }
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
