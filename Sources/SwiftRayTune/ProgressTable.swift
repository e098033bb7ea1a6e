import Foundation
import SwiftRay

/// When `fit()` prints its progress table.
public enum ProgressOutput: Sendable {
    /// Only when standard output is a terminal (Ray's default reporter is quiet in a pipe too).
    case auto
    case always
    case never
}

/// Where a trial is (Ray's trial states).
public enum TrialState: String, Sendable, Codable {
    case pending = "PENDING"
    case running = "RUNNING"
    /// Waiting for its scheduler (HyperBand) to let it go on, its resources given back.
    case paused = "PAUSED"
    case terminated = "TERMINATED"
    case error = "ERROR"
}

/// The experiment as the progress table shows it; updated by the Tuner as trials move.
actor ProgressBoard {
    private var states: [TrialState] = []
    private var latest: [Metrics?] = []
    private var trialIDs: [String] = []
    private var configs: [TrialConfig] = []
    /// Every report's metrics, per trial (the dashboard's learning curves).
    private var reports: [[Metrics]] = []
    private let name: String
    private let started = ContinuousClock.now
    private let startedAt = Date()
    /// Changes since the dashboard's copy was made.
    private var changed = true

    init(name: String) { self.name = name }

    /// A trial starts (trials are numbered in the order they start).
    func add(_ index: Int, _ config: TrialConfig) {
        while configs.count <= index {
            trialIDs.append("\(name)_\(String(format: "%05d", configs.count))")
            configs.append(config)
            states.append(.pending)
            latest.append(nil)
            reports.append([])
        }
        configs[index] = config
        states[index] = .running
        changed = true
    }

    /// Trial `index` is now `state`; `metrics` is a new report while it runs, or its final
    /// metrics when it ends (a trainable that returns once has no other report).
    func set(_ index: Int, _ state: TrialState, metrics: Metrics? = nil) {
        guard index < states.count else { return }
        states[index] = state
        changed = true
        guard let metrics else { return }
        latest[index] = metrics
        if state == .running || reports[index].isEmpty { reports[index].append(metrics) }
    }

    /// The experiment for the dashboard, or nil when nothing changed since the last one.
    func status(metric: String?, mode: Mode?, finished: Bool) -> ExperimentStatus? {
        guard changed || finished else { return nil }
        changed = false
        let shown = metric ?? latest.lazy.compactMap { $0?.keys.filter { $0 != "training_iteration" }.min() }.first ?? ""
        let trials = shownTrials(metric: shown, mode: mode).map { index in
            ExperimentTrial(
                trialID: trialIDs[index], status: states[index].rawValue, config: configs[index].description,
                iterations: reports[index].count, latest: (latest[index] ?? [:]).filter { $0.value.isFinite },
                curve: Self.thinned(reports[index].compactMap { $0[shown] }.filter(\.isFinite), to: 200))
        }
        let micros = { (date: Date) in Int64(date.timeIntervalSince1970 * 1e6) }
        return ExperimentStatus(
            name: name, metric: shown, mode: mode?.rawValue, startedAt: micros(startedAt), updatedAt: micros(Date()), finished: finished,
            counts: Dictionary(states.map { ($0.rawValue, 1) }, uniquingKeysWith: +), trials: trials)
    }

    /// The trials published, in trial order: running and paused ones, then the best by `metric`,
    /// at most `ExperimentStatus.maxTrials`.
    private func shownTrials(metric: String, mode: Mode?) -> [Int] {
        guard states.count > ExperimentStatus.maxTrials else { return Array(states.indices) }
        let live = states.indices.filter { states[$0] == .running || states[$0] == .paused }
        let sign = mode == .min ? -1.0 : 1.0
        let ranked = states.indices.filter { states[$0] != .running && states[$0] != .paused }.sorted {
            let a = latest[$0]?[metric].map { $0 * sign } ?? -.infinity, b = latest[$1]?[metric].map { $0 * sign } ?? -.infinity
            return (a.isNaN ? -.infinity : a) > (b.isNaN ? -.infinity : b)
        }
        return Array((live + ranked).prefix(ExperimentStatus.maxTrials)).sorted()
    }

    /// At most `limit` points, evenly spaced, the last one kept.
    static func thinned(_ values: [Double], to limit: Int) -> [Double] {
        guard values.count > limit, limit > 1 else { return values }
        return (0..<limit).map { values[$0 * (values.count - 1) / (limit - 1)] }
    }

    func table(metric: String?, mode: Mode?) -> String {
        ProgressTable.render(
            trialIDs: trialIDs, states: states, configs: configs, metrics: latest, metric: metric, mode: mode,
            elapsed: ContinuousClock.now - started)
    }
}

/// Ray's status table, as text.
enum ProgressTable {
    static let maxRows = 20

    static func render(
        trialIDs: [String], states: [TrialState], configs: [TrialConfig], metrics: [Metrics?], metric: String?, mode: Mode?,
        elapsed: Duration
    ) -> String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var lines = ["== Status == \(String(format: "%.1f", seconds)) s"]
        let counts = [TrialState.running, .paused, .terminated, .pending, .error].compactMap { state -> String? in
            let count = states.filter { $0 == state }.count
            return state == .paused && count == 0 ? nil : "\(count) \(state.rawValue)"  // paused only with HyperBand
        }
        lines.append("Trials: \(states.count) (\(counts.joined(separator: ", ")))")
        if let metric, let mode, let best = best(metrics, metric: metric, mode: mode) {
            lines.append("Best: \(trialIDs[best]) \(metric)=\(format(metrics[best]?[metric])) \(configs[best])")
        }
        let names = Set(metrics.compactMap { $0?.keys }.joined()).subtracting(["training_iteration"]).sorted()
        let shown = Array(names.prefix(4))
        let header = ["Trial name", "status", "config", "iter"] + shown
        // Running trials first, then the rest in trial order; at most `maxRows`.
        let order = states.indices.sorted { (states[$0] == .running ? 0 : 1, $0) < (states[$1] == .running ? 0 : 1, $1) }
        var rows = order.prefix(maxRows).map { index in
            [trialIDs[index], states[index].rawValue, "\(configs[index])", format(metrics[index]?["training_iteration"])]
                + shown.map { format(metrics[index]?[$0]) }
        }
        if order.count > maxRows { rows.append(["... \(order.count - maxRows) more"] + Array(repeating: "", count: header.count - 1)) }
        lines += grid([header] + rows)
        return lines.joined(separator: "\n")
    }

    private static func best(_ metrics: [Metrics?], metric: String, mode: Mode) -> Int? {
        let scored = metrics.indices.compactMap { index in metrics[index]?[metric].map { (index, $0) } }.filter { !$0.1.isNaN }
        return (mode == .min ? scored.min { $0.1 < $1.1 } : scored.max { $0.1 < $1.1 })?.0
    }

    private static func format(_ value: Double?) -> String {
        guard let value else { return "" }
        return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.5g", value)
    }

    /// Rows boxed as a table, columns padded to their widest cell (configs cut at 40 characters).
    private static func grid(_ rows: [[String]]) -> [String] {
        let cells = rows.map { $0.map { $0.count > 40 ? String($0.prefix(39)) + "…" : $0 } }
        let widths = cells[0].indices.map { column in cells.map { $0.count > column ? $0[column].count : 0 }.max() ?? 0 }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+"
        let lines = cells.map { row in
            "| " + widths.indices.map { column in
                let text = column < row.count ? row[column] : ""
                return text + String(repeating: " ", count: widths[column] - text.count)
            }.joined(separator: " | ") + " |"
        }
        return [rule, lines[0], rule] + lines.dropFirst() + [rule]
    }
}
