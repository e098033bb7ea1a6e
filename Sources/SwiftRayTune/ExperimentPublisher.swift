import Foundation
import SwiftRay

/// Publishes the experiment for the dashboard's Tune page and `/metrics`: the board's state,
/// written to the cluster's key-value store every `interval` while it changes, and once at the
/// end. A failed write is reported once and never stops the experiment.
struct ExperimentPublisher: Sendable {
    let board: ProgressBoard
    let key: String
    let metric: String?
    let mode: Mode?

    init(board: ProgressBoard, name: String, metric: String?, mode: Mode?) {
        self.board = board
        key = "\(name)-\(getpid())-\(Int64(Date().timeIntervalSince1970 * 1e6))"
        self.metric = metric
        self.mode = mode
    }

    func start(every interval: Duration) -> Task<Void, Never> {
        Task {
            var complained = false
            while (try? await Task.sleep(for: interval)) != nil {
                if !(await publish(finished: false)) && !complained {
                    complained = true
                    TrialStorage.complain("cannot publish the experiment to the dashboard; going on without it")
                }
            }
        }
    }

    /// Writes the state if it changed; returns false when the write failed.
    @discardableResult
    func publish(finished: Bool) async -> Bool {
        guard let status = await board.status(metric: metric, mode: mode, finished: finished) else { return true }
        guard let data = TrialStorage.json(status) else { return false }
        return (try? await ray.kv.put(key, Array(data), namespace: ExperimentStatus.namespace)) != nil
    }
}
