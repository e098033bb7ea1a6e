import Foundation

/// Ends trials, or the whole experiment, on conditions of their reports (Ray's `Stopper`, given
/// as `TuneConfig(stop:)`). Called for one report at a time, after the scheduler.
public protocol TrialStopper: Sendable {
    /// Whether trial `trial` stops after reporting `metrics`.
    mutating func shouldStop(trial: Int, metrics: Metrics) -> Bool
    /// Whether every trial stops now (and no more start).
    mutating func stopAll() -> Bool
}

extension TrialStopper {
    public mutating func stopAll() -> Bool { false }
}

/// Stops each trial after `maxIterations` reports (Ray's `MaximumIterationStopper`).
public struct MaximumIterationStopper: TrialStopper {
    public let maxIterations: Int

    public init(maxIterations: Int) { self.maxIterations = maxIterations }

    public mutating func shouldStop(trial: Int, metrics: Metrics) -> Bool {
        (metrics["training_iteration"] ?? 0) >= Double(maxIterations)
    }
}

/// Stops a trial once `metric` reaches `threshold` (at least it for `.max`, at most for `.min`;
/// Ray's `stop={"metric": value}`).
public struct MetricThresholdStopper: TrialStopper {
    public let metric: String
    public let threshold: Double
    public let mode: Mode

    public init(metric: String, threshold: Double, mode: Mode = .max) {
        self.metric = metric
        self.threshold = threshold
        self.mode = mode
    }

    public mutating func shouldStop(trial: Int, metrics: Metrics) -> Bool {
        guard let value = metrics[metric] else { return false }
        return mode == .max ? value >= threshold : value <= threshold
    }
}

/// Stops a trial whose metric has stopped moving: the standard deviation of its last
/// `numResults` values under `std`, after `gracePeriod` reports (Ray's `TrialPlateauStopper`;
/// with `metricThreshold`, only once the metric is past it for `mode`).
public struct TrialPlateauStopper: TrialStopper {
    public let metric: String
    public let std: Double
    public let numResults: Int
    public let gracePeriod: Int
    public let metricThreshold: Double?
    public let mode: Mode
    private var recent: [Int: [Double]] = [:]
    private var seen: [Int: Int] = [:]

    public init(metric: String, std: Double = 0.01, numResults: Int = 4, gracePeriod: Int = 4, metricThreshold: Double? = nil, mode: Mode = .min) {
        self.metric = metric
        self.std = std
        self.numResults = max(numResults, 2)
        self.gracePeriod = gracePeriod
        self.metricThreshold = metricThreshold
        self.mode = mode
    }

    public mutating func shouldStop(trial: Int, metrics: Metrics) -> Bool {
        guard let value = metrics[metric] else { return false }
        seen[trial, default: 0] += 1
        var values = recent[trial, default: []]
        values.append(value)
        if values.count > numResults { values.removeFirst(values.count - numResults) }
        recent[trial] = values
        guard seen[trial]! >= gracePeriod, values.count == numResults else { return false }
        if let metricThreshold, mode == .min ? value > metricThreshold : value < metricThreshold { return false }
        let mean = values.reduce(0, +) / Double(values.count)
        let deviation = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        return deviation < std
    }
}

/// Stops every trial once the experiment has run for `budget` (Ray's `TimeoutStopper`).
public struct TimeoutStopper: TrialStopper {
    public let budget: Duration
    private let started = ContinuousClock.now

    public init(_ budget: Duration) { self.budget = budget }

    public mutating func shouldStop(trial: Int, metrics: Metrics) -> Bool { stopAll() }
    public mutating func stopAll() -> Bool { ContinuousClock.now - started >= budget }
}

/// Stops when any of its stoppers does (Ray's `CombinedStopper`).
public struct CombinedStopper: TrialStopper {
    private var stoppers: [any TrialStopper]

    public init(_ stoppers: [any TrialStopper]) { self.stoppers = stoppers }

    public mutating func shouldStop(trial: Int, metrics: Metrics) -> Bool {
        var stop = false
        for index in stoppers.indices where stoppers[index].shouldStop(trial: trial, metrics: metrics) { stop = true }
        return stop
    }

    public mutating func stopAll() -> Bool {
        var stop = false
        for index in stoppers.indices where stoppers[index].stopAll() { stop = true }
        return stop
    }
}
