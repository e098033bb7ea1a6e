import Foundation
import SwiftRay

/// A trial's metrics, by name.
public typealias Metrics = [String: Double]

/// Whether a smaller or a larger metric is better.
public enum Mode: String, Sendable, Codable {
    case min, max
}

/// How an experiment runs (Ray's `TuneConfig`).
public struct TuneConfig: Sendable {
    /// Samples of the search space; each grid point is repeated this many times.
    public var numSamples: Int
    /// The metric and mode `bestResult()` uses when not given one.
    public var metric: String?
    public var mode: Mode?
    /// Trials running at once (nil: as many as the cluster's resources allow).
    public var maxConcurrentTrials: Int?
    /// Makes the sampled configurations reproducible (nil: a random seed).
    public var seed: UInt64?

    public init(numSamples: Int = 1, metric: String? = nil, mode: Mode? = nil, maxConcurrentTrials: Int? = nil, seed: UInt64? = nil) {
        self.numSamples = numSamples
        self.metric = metric
        self.mode = mode
        self.maxConcurrentTrials = maxConcurrentTrials
        self.seed = seed
    }
}

/// Runs an experiment (Ray's `tune.Tuner`): one trial per configuration sampled from the search
/// space, each a task on the cluster running `trainable`, which returns the trial's metrics.
///
/// ```swift
/// @Remote func objective(_ config: TrialConfig) -> Metrics { ["score": pow(config["a"], 2) + config["b"]] }
///
/// let tuner = Tuner($objective.remote, paramSpace: ["a": .uniform(0, 1), "b": .uniform(0, 20)],
///                   tuneConfig: TuneConfig(numSamples: 100))
/// print(try await tuner.fit().bestResult(metric: "score", mode: .min))
/// ```
///
/// Per-trial resources come from the remote function's options:
/// `Tuner($objective.options(numCPUs: 2).remote, ...)`. A trial whose task fails is kept with its
/// error (`ResultGrid.errors`); the others go on.
public struct Tuner: Sendable {
    /// Starts one trial: a task of the trainable with the trial's configuration.
    public typealias Trainable = @Sendable (TrialConfig) -> ObjectRef<Metrics>

    let trainable: Trainable
    let paramSpace: [String: Domain]
    let tuneConfig: TuneConfig
    let name: String

    /// - Parameters:
    ///   - trainable: submits a trial, usually a remote function's `remote` (`$objective.remote`).
    ///   - paramSpace: the search space, by parameter name.
    ///   - name: names the trials (`<name>_00000`, ...).
    public init(_ trainable: @escaping Trainable, paramSpace: [String: Domain] = [:], tuneConfig: TuneConfig = TuneConfig(), name: String = "trial") {
        self.trainable = trainable
        self.paramSpace = paramSpace
        self.tuneConfig = tuneConfig
        self.name = name
    }

    /// The configurations this experiment runs, in trial order.
    public func configurations() -> [TrialConfig] {
        var random = TuneRandom(seed: tuneConfig.seed ?? UInt64.random(in: 0...UInt64.max))
        return VariantGenerator.variants(paramSpace, numSamples: tuneConfig.numSamples, random: &random)
    }

    /// Runs every trial and returns their results, in trial order.
    /// - Throws: `TuneError.notStarted` when swift-ray is not running; a trial's own failure is in
    ///   its result instead.
    public func fit() async throws -> ResultGrid {
        guard Ray.isInitialized else { throw TuneError.notStarted }
        let configs = configurations()
        let limit = max(1, tuneConfig.maxConcurrentTrials ?? configs.count)
        var results = [TrialResult?](repeating: nil, count: configs.count)
        var running: [(index: Int, ref: ObjectRef<Metrics>)] = []
        var next = 0
        while next < configs.count || !running.isEmpty {
            while next < configs.count && running.count < limit {
                running.append((next, trainable(configs[next])))
                next += 1
            }
            // Everything finished by now, else the next to finish: one pass over the running
            // trials takes all that are done.
            let refs = running.map(\.ref)
            var (ready, _) = try await ray.wait(refs, numReturns: refs.count, timeout: .zero)
            if ready.isEmpty { (ready, _) = try await ray.wait(refs, numReturns: 1) }
            let done = Set(ready.map(\.id))
            for trial in running where done.contains(trial.ref.id) {
                results[trial.index] = await finished(trial.index, configs[trial.index], trial.ref)
            }
            running.removeAll { done.contains($0.ref.id) }
        }
        return ResultGrid(results: results.compactMap { $0 }, metric: tuneConfig.metric, mode: tuneConfig.mode)
    }

    private func finished(_ index: Int, _ config: TrialConfig, _ ref: ObjectRef<Metrics>) async -> TrialResult {
        let trialID = "\(name)_\(String(format: "%05d", index))"
        do {
            return TrialResult(trialID: trialID, config: config, metrics: try await ray.get(ref), error: nil)
        } catch {
            return TrialResult(trialID: trialID, config: config, metrics: nil, error: "\(error)")
        }
    }
}
