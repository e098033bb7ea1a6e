#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Chrome trace JSON of task runs (chrome://tracing, Perfetto): one span per run, a process per
/// node and a thread per worker.
public enum ChromeTrace {
    public static func json(_ tasks: [TaskState]) -> [UInt8] {
        let events = tasks.compactMap { task -> Event? in
            guard let start = task.startedAt, let end = task.endedAt else { return nil }
            return Event(
                name: task.name, cat: task.type, ph: "X", ts: start, dur: max(end - start, 1), pid: task.nodeID ?? "?",
                tid: Int(task.workerPID ?? 0), args: .init(task_id: task.taskID, state: task.state.rawValue, attempt: task.attempt))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(events)) ?? Data("[]".utf8))
    }

    /// A complete event ("X"): a span with a start and a duration, in microseconds.
    private struct Event: Encodable {
        struct Arguments: Encodable {
            let task_id: String
            let state: String
            let attempt: Int
        }
        let name: String
        let cat: String
        let ph: String
        let ts: Int64
        let dur: Int64
        let pid: String
        let tid: Int
        let args: Arguments
    }
}
