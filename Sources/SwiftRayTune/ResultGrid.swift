import Foundation

/// One trial's outcome: its configuration, and its metrics or the error that ended it.
public struct TrialResult: Sendable, Codable, CustomStringConvertible {
    public let trialID: String
    public let config: TrialConfig
    /// The metrics the trial returned (nil if it failed).
    public let metrics: Metrics?
    /// Why the trial failed (nil if it finished).
    public let error: String?
    /// Every report, in order (one for a trainable that returns its metrics once).
    public let history: [Metrics]
    /// The checkpoint it would resume from: the last it reported (or, after a PBT exploit before
    /// any of its own, the one it copied).
    public let checkpoint: Checkpoint?
    /// Its kept checkpoints, best first (`TuneConfig.checkpoints`).
    public let bestCheckpoints: [SavedCheckpoint]

    public init(
        trialID: String, config: TrialConfig, metrics: Metrics?, error: String?, history: [Metrics]? = nil, checkpoint: Checkpoint? = nil,
        bestCheckpoints: [SavedCheckpoint] = []
    ) {
        self.trialID = trialID
        self.config = config
        self.metrics = metrics
        self.error = error
        self.history = history ?? metrics.map { [$0] } ?? []
        self.checkpoint = checkpoint
        self.bestCheckpoints = bestCheckpoints
    }

    public var description: String {
        let shown = metrics.map { "[" + $0.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "]" } ?? "none"
        return "Result(trial: \(trialID), metrics: \(shown), config: \(config)\(error.map { ", error: \($0)" } ?? ""))"
    }
}

/// What went wrong choosing a best result.
public enum TuneError: Error, Equatable, CustomStringConvertible {
    /// Neither the call nor the `TuneConfig` names a metric and a mode.
    case noMetric
    /// No trial reported the metric.
    case noTrialReported(String)
    /// `fit()` was called before `Ray.start()`.
    case notStarted
    /// `Tuner.restore` found no usable experiment state.
    case cannotRestore(String)

    public var description: String {
        switch self {
        case .noMetric: "name a metric and mode (bestResult(metric:mode:) or TuneConfig(metric:mode:))"
        case .noTrialReported(let metric): "no trial reported the metric \(metric)"
        case .notStarted: "start swift-ray (Ray.start()) before Tuner.fit()"
        case .cannotRestore(let why): "cannot restore the experiment: \(why)"
        }
    }
}

/// The results of an experiment (Ray's `ResultGrid`), in trial order.
public struct ResultGrid: Sendable, RandomAccessCollection {
    public let results: [TrialResult]
    let metric: String?
    let mode: Mode?

    public var startIndex: Int { results.startIndex }
    public var endIndex: Int { results.endIndex }
    public subscript(position: Int) -> TrialResult { results[position] }

    /// The trials that failed.
    public var errors: [TrialResult] { results.filter { $0.error != nil } }

    /// The trial with the best `metric` (by default the `TuneConfig`'s), comparing each trial's
    /// value in `scope` (Ray's `get_best_result(scope=)`: its last report by default, or the best
    /// of all its reports, or an average).
    /// - Throws: `TuneError` when no metric is named or no trial reported it.
    public func bestResult(metric: String? = nil, mode: Mode? = nil, scope: ResultScope = .last) throws -> TrialResult {
        guard let metric = metric ?? self.metric, let mode = mode ?? self.mode else { throw TuneError.noMetric }
        let scored = results.compactMap { result in scope.value(of: result, metric: metric, mode: mode).map { (result, $0) } }
        let best = mode == .min ? scored.min { $0.1 < $1.1 } : scored.max { $0.1 < $1.1 }
        guard let best else { throw TuneError.noTrialReported(metric) }
        return best.0
    }

    /// Every trial as a CSV row: its id, each configuration parameter (`config/<path>`), each
    /// metric, and its error.
    public func csv() -> String {
        let parameters = Set(results.flatMap { flatten($0.config.values, prefix: "") .keys }).sorted()
        let metrics = Set(results.flatMap { $0.metrics?.keys.map { $0 } ?? [] }).sorted()
        var lines = [(["trial_id"] + parameters.map { "config/\($0)" } + metrics + ["error"]).map(csvField).joined(separator: ",")]
        for result in results {
            let flat = flatten(result.config.values, prefix: "")
            let row = [result.trialID] + parameters.map { flat[$0] ?? "" } + metrics.map { result.metrics?[$0].map { "\($0)" } ?? "" }
                + [result.error ?? ""]
            lines.append(row.map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Every trial as JSON (an array of `TrialResult`).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(results), as: UTF8.self)
    }

    private func flatten(_ values: [String: ParameterValue], prefix: String) -> [String: String] {
        var flat: [String: String] = [:]
        for (key, value) in values {
            if case .nested(let inner) = value {
                flat.merge(flatten(inner, prefix: prefix + key + "/")) { $1 }
            } else {
                flat[prefix + key] = value.description
            }
        }
        return flat
    }

    private func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Which of a trial's reports `bestResult` compares (Ray's `scope`).
public enum ResultScope: Sendable {
    /// The last report (Ray's `"last"`).
    case last
    /// The best report of all (Ray's `"all"`).
    case all
    /// The mean of every report (`"avg"`).
    case average
    /// The mean of the last n reports (`"last-5-avg"`, `"last-10-avg"`).
    case lastAverage(Int)

    /// The trial's value of `metric` in this scope; nil when it never reported one.
    func value(of result: TrialResult, metric: String, mode: Mode) -> Double? {
        if case .last = self { return result.metrics?[metric].flatMap { $0.isNaN ? nil : $0 } }
        let values = result.history.compactMap { $0[metric] }.filter { !$0.isNaN }
        guard !values.isEmpty else { return nil }
        switch self {
        case .last: return values.last
        case .all: return mode == .min ? values.min() : values.max()
        case .average: return values.reduce(0, +) / Double(values.count)
        case .lastAverage(let count):
            let tail = values.suffix(max(count, 1))
            return tail.reduce(0, +) / Double(tail.count)
        }
    }
}
