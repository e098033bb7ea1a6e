/// Suggests trial configurations one at a time and learns from finished trials (Ray's
/// `Searcher`), given as `TuneConfig(searchAlg:)`; the Tuner asks for at most `numSamples`.
public protocol Searcher: Sendable {
    /// The configuration for trial `trial`; nil when the search has no more.
    mutating func suggest(trial: Int) -> TrialConfig?
    /// Trial `trial` ended with these final metrics (nil: it failed).
    mutating func onTrialComplete(trial: Int, metrics: Metrics?)
    /// At most this many trials at once (a `ConcurrencyLimiter`'s bound); nil: no bound.
    var maxConcurrent: Int? { get }
    /// A restored experiment's finished trial `trial` had this configuration and these metrics:
    /// learn from it as if it had just ended.
    mutating func restore(trial: Int, config: TrialConfig, metrics: Metrics?)
}

extension Searcher {
    public mutating func onTrialComplete(trial: Int, metrics: Metrics?) {}
    public var maxConcurrent: Int? { nil }
    public mutating func restore(trial: Int, config: TrialConfig, metrics: Metrics?) {}
}

/// Random and grid search (Ray's `BasicVariantGenerator`, the default): every grid point
/// `numSamples` times, the other parameters sampled at random.
public struct BasicVariantGenerator: Searcher {
    private let configs: [TrialConfig]

    public init(paramSpace: [String: Domain], numSamples: Int, seed: UInt64? = nil) {
        var random = TuneRandom(seed: seed ?? UInt64.random(in: 0...UInt64.max))
        configs = VariantGenerator.variants(paramSpace, numSamples: numSamples, random: &random)
    }

    public func suggest(trial: Int) -> TrialConfig? { trial < configs.count ? configs[trial] : nil }
}

/// Runs at most `maxConcurrent` of another searcher's trials at once (Ray's `ConcurrencyLimiter`),
/// so a model-based searcher suggests knowing more results.
public struct ConcurrencyLimiter: Searcher {
    private var searcher: any Searcher
    public let maxConcurrent: Int?

    public init(_ searcher: any Searcher, maxConcurrent: Int) {
        self.searcher = searcher
        self.maxConcurrent = max(1, maxConcurrent)
    }

    public mutating func suggest(trial: Int) -> TrialConfig? { searcher.suggest(trial: trial) }
    public mutating func onTrialComplete(trial: Int, metrics: Metrics?) { searcher.onTrialComplete(trial: trial, metrics: metrics) }
    public mutating func restore(trial: Int, config: TrialConfig, metrics: Metrics?) {
        searcher.restore(trial: trial, config: config, metrics: metrics)
    }
}

/// Runs each configuration of another searcher `repeat` times and gives it the mean of their
/// metrics (Ray's `Repeater`, for noisy objectives).
public struct Repeater: Searcher {
    private var searcher: any Searcher
    public let repeatCount: Int
    private var current: (trial: Int, config: TrialConfig)?
    private var groups: [Int: (inner: Int, results: [Metrics?])] = [:]
    private var innerCount = 0

    public init(_ searcher: any Searcher, repeat count: Int) {
        self.searcher = searcher
        repeatCount = max(1, count)
    }

    public mutating func suggest(trial: Int) -> TrialConfig? {
        if trial % repeatCount == 0 {
            guard let config = searcher.suggest(trial: innerCount) else { return nil }
            current = (innerCount, config)
            innerCount += 1
        }
        guard let current else { return nil }
        groups[trial] = (current.trial, [])
        return current.config
    }

    public mutating func onTrialComplete(trial: Int, metrics: Metrics?) {
        guard let inner = groups.removeValue(forKey: trial)?.inner else { return }
        pending[inner, default: []].append(metrics)
        guard pending[inner]!.count == repeatCount else { return }
        let finished = pending.removeValue(forKey: inner)!.compactMap { $0 }
        guard !finished.isEmpty else { return searcher.onTrialComplete(trial: inner, metrics: nil) }
        var mean: Metrics = [:]
        for key in Set(finished.flatMap(\.keys)) {
            let values = finished.compactMap { $0[key] }
            mean[key] = values.reduce(0, +) / Double(values.count)
        }
        searcher.onTrialComplete(trial: inner, metrics: mean)
    }

    private var pending: [Int: [Metrics?]] = [:]
}
