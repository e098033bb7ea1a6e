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
    /// Decides which reporting trials go on (default: `FIFOScheduler`, all run to their end).
    public var scheduler: any TrialScheduler
    /// Ends reporting trials (or all of them) on conditions of their reports (Ray's `RunConfig(stop:)`).
    public var stop: (any TrialStopper)?
    /// Restarts of a failed trial (Ray's `FailureConfig(max_failures:)`; -1: forever): a
    /// reporting trial resumes from its last checkpoint, another starts over.
    public var maxFailures: Int
    /// When to print the progress table (trials by status, configs, latest metrics, the best),
    /// every `progressInterval` while it runs and once at the end.
    public var progress: ProgressOutput
    public var progressInterval: Duration
    /// Suggests the configurations (default: `BasicVariantGenerator` over the search space);
    /// with one, `numSamples` is the number of trials.
    public var searchAlg: (any Searcher)?
    /// A folder whose `<name>` subfolder keeps the experiment's state as it runs (Ray's
    /// `RunConfig(storage_path:)`), for `Tuner.restore`; nil: nothing is written.
    public var storagePath: String?
    /// Which checkpoints each trial keeps (Ray's `CheckpointConfig`); default: all.
    public var checkpoints: CheckpointConfig
    /// A placement group reserved for each trial (nil: the trainable's own task options).
    public var resourcesPerTrial: PlacementGroupFactory?

    public init(
        numSamples: Int = 1, metric: String? = nil, mode: Mode? = nil, maxConcurrentTrials: Int? = nil, seed: UInt64? = nil,
        scheduler: any TrialScheduler = FIFOScheduler(), stop: (any TrialStopper)? = nil, maxFailures: Int = 0,
        progress: ProgressOutput = .auto, progressInterval: Duration = .seconds(5), searchAlg: (any Searcher)? = nil,
        storagePath: String? = nil, checkpoints: CheckpointConfig = CheckpointConfig(), resourcesPerTrial: PlacementGroupFactory? = nil
    ) {
        self.resourcesPerTrial = resourcesPerTrial
        self.checkpoints = checkpoints
        self.searchAlg = searchAlg
        self.storagePath = storagePath
        self.progress = progress
        self.progressInterval = progressInterval
        self.stop = stop
        self.maxFailures = maxFailures
        self.numSamples = numSamples
        self.metric = metric
        self.mode = mode
        self.maxConcurrentTrials = maxConcurrentTrials
        self.seed = seed
        self.scheduler = scheduler
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
    /// Starts one trial of a reporting trainable: a streaming task of its reports.
    public typealias ReportingTrainable = @Sendable (TrialConfig) -> ObjectRefGenerator<TrialReport>

    enum Kind: Sendable {
        case once(Trainable)
        case reporting(ReportingTrainable)
    }

    let kind: Kind
    let paramSpace: [String: Domain]
    let tuneConfig: TuneConfig
    let name: String
    /// The saved state this Tuner continues (`restore`).
    var restored: ExperimentState?

    /// - Parameters:
    ///   - trainable: submits a trial, usually a remote function's `remote` (`$objective.remote`).
    ///   - paramSpace: the search space, by parameter name.
    ///   - name: names the trials (`<name>_00000`, ...).
    public init(_ trainable: @escaping Trainable, paramSpace: [String: Domain] = [:], tuneConfig: TuneConfig = TuneConfig(), name: String = "trial") {
        self.init(kind: .once(trainable), paramSpace: paramSpace, tuneConfig: tuneConfig, name: name)
    }

    /// A Tuner of a reporting trainable: one returning `AsyncThrowingStream<TrialReport, any Error>`
    /// (see `AsyncThrowingStream.trial`), whose reports reach the scheduler while the trial runs;
    /// a trial the scheduler stops is stopped in its worker. Its result's metrics are its last
    /// report's. `$train.options(generatorBackpressure: 1).remote` keeps a trial from running
    /// ahead of the scheduler's decisions.
    public init(
        _ trainable: @escaping ReportingTrainable, paramSpace: [String: Domain] = [:], tuneConfig: TuneConfig = TuneConfig(),
        name: String = "trial"
    ) {
        self.init(kind: .reporting(trainable), paramSpace: paramSpace, tuneConfig: tuneConfig, name: name)
    }

    /// Continues the experiment saved under `path` (`<storagePath>/<name>`; Ray's
    /// `Tuner.restore`) after its driver died: its finished trials are kept and not run again,
    /// the unfinished ones resume from their last checkpoint (a reporting trial) or start over,
    /// and then the searcher goes on. Give the same trainable, search space and configuration.
    /// - Throws: `TuneError.cannotRestore` when there is no readable state there.
    public static func restore(
        _ path: String, trainable: @escaping ReportingTrainable, paramSpace: [String: Domain] = [:], tuneConfig: TuneConfig = TuneConfig()
    ) throws -> Tuner {
        try restoring(.reporting(trainable), path, paramSpace, tuneConfig)
    }

    /// `restore` for a trainable that returns its metrics once.
    public static func restore(
        _ path: String, trainable: @escaping Trainable, paramSpace: [String: Domain] = [:], tuneConfig: TuneConfig = TuneConfig()
    ) throws -> Tuner {
        try restoring(.once(trainable), path, paramSpace, tuneConfig)
    }

    /// A Tuner continuing the state under `path`, writing to that experiment's own folder.
    private static func restoring(_ kind: Kind, _ path: String, _ paramSpace: [String: Domain], _ tuneConfig: TuneConfig) throws -> Tuner {
        let state = try ExperimentState.read(path)
        var config = tuneConfig
        config.storagePath = (path as NSString).deletingLastPathComponent
        var tuner = Tuner(kind: kind, paramSpace: paramSpace, tuneConfig: config, name: state.name)
        tuner.restored = state
        return tuner
    }

    private init(kind: Kind, paramSpace: [String: Domain], tuneConfig: TuneConfig, name: String) {
        self.kind = kind
        self.paramSpace = paramSpace
        self.tuneConfig = tuneConfig
        self.name = name
    }

    /// Where trials write their files, when the experiment has a storage path.
    var storage: TrialStorage? {
        tuneConfig.storagePath.map { TrialStorage(folder: ($0 as NSString).appendingPathComponent(name)) }
    }

    /// The configurations the default searcher (`BasicVariantGenerator`) runs, in trial order.
    public func configurations() -> [TrialConfig] {
        var random = TuneRandom(seed: tuneConfig.seed ?? UInt64.random(in: 0...UInt64.max))
        return VariantGenerator.variants(paramSpace, numSamples: tuneConfig.numSamples, random: &random)
    }

    /// Runs every trial and returns their results, in trial order.
    /// - Throws: `TuneError.notStarted` when swift-ray is not running; a trial's own failure is in
    ///   its result instead.
    public func fit() async throws -> ResultGrid {
        guard Ray.isInitialized else { throw TuneError.notStarted }
        let seed = restored?.seed ?? tuneConfig.seed ?? UInt64.random(in: 0...UInt64.max)
        var source = TrialSource(
            searcher: tuneConfig.searchAlg ?? BasicVariantGenerator(paramSpace: paramSpace, numSamples: tuneConfig.numSamples, seed: seed),
            cap: tuneConfig.searchAlg == nil ? Int.max : tuneConfig.numSamples, restored: restored)
        let log = ExperimentLog(
            state: restored ?? ExperimentState(name: name, seed: seed),
            folder: tuneConfig.storagePath.map { ($0 as NSString).appendingPathComponent(name) })
        let limit = max(1, min(tuneConfig.maxConcurrentTrials ?? Int.max, source.searcher.maxConcurrent ?? Int.max))
        let board = ProgressBoard(name: name)
        let printing = showsProgress ? startPrinting(board) : nil
        let publisher = ExperimentPublisher(board: board, name: name, metric: tuneConfig.metric, mode: tuneConfig.mode)
        let publishing = publisher.start(every: .seconds(1))
        defer {
            printing?.cancel()
            publishing.cancel()
        }
        let results: ResultGrid
        switch kind {
        case .once(let trainable):
            results = try await fitOnce(trainable, &source, limit: limit, board: board, log: log)
        case .reporting(let trainable):
            results = await fitReporting(trainable, &source, limit: limit, board: board, log: log)
        }
        if showsProgress { print(await board.table(metric: tuneConfig.metric, mode: tuneConfig.mode)) }
        await publisher.publish(finished: true)
        return results
    }

    private var showsProgress: Bool {
        switch tuneConfig.progress {
        case .always: true
        case .never: false
        case .auto: isatty(STDOUT_FILENO) != 0
        }
    }

    private func startPrinting(_ board: ProgressBoard) -> Task<Void, Never> {
        let interval = tuneConfig.progressInterval, metric = tuneConfig.metric, mode = tuneConfig.mode
        return Task {
            while (try? await Task.sleep(for: interval)) != nil {
                print(await board.table(metric: metric, mode: mode))
            }
        }
    }

    private func fitOnce(
        _ trainable: Trainable, _ source: inout TrialSource, limit: Int, board: ProgressBoard, log: ExperimentLog
    ) async throws -> ResultGrid {
        var results = source.finishedBefore
        var failures = FailureBudget(maxFailures: tuneConfig.maxFailures)
        var running: [OnceTrial] = []
        while true {
            while running.count < limit, let (index, config) = source.next() {
                storage?.started(trialID(index), config)
                await board.add(index, config)
                await log.started(index, config)
                switch await submitOnce(trainable, index, config) {
                case .success(let trial): running.append(trial)
                case .failure(let error): await record(index, failedTrial(index, config, error), &results, &source, board, log)
                }
            }
            guard !running.isEmpty else { break }
            // Everything finished by now, else the next to finish: one pass over the running
            // trials takes all that are done.
            let refs = running.map(\.ref)
            var (ready, _) = try await ray.wait(refs, numReturns: refs.count, timeout: .zero)
            if ready.isEmpty { (ready, _) = try await ray.wait(refs, numReturns: 1) }
            let done = Set(ready.map(\.id))
            var restarted: [OnceTrial] = []
            for trial in running where done.contains(trial.ref.id) {
                let config = source.configs[trial.index]
                let result = await finished(trial.index, config, trial.ref)
                if let group = trial.group { try? await ray.removePlacementGroup(group) }
                if result.error != nil, failures.restart(trial.index), case .success(let again) = await submitOnce(trainable, trial.index, config) {
                    restarted.append(again)
                } else {
                    await record(trial.index, result, &results, &source, board, log)
                }
            }
            running.removeAll { done.contains($0.ref.id) }
            running += restarted
        }
        return ResultGrid(results: results.keys.sorted().map { results[$0]! }, metric: tuneConfig.metric, mode: tuneConfig.mode)
    }

    /// A running trial of a trainable that returns once.
    private struct OnceTrial {
        let index: Int
        let ref: ObjectRef<Metrics>
        let group: PlacementGroup?
    }

    /// Submits a trial, in a placement group of its own when `resourcesPerTrial` asks for one.
    private func submitOnce(_ trainable: Trainable, _ index: Int, _ config: TrialConfig) async -> Result<OnceTrial, any Error> {
        guard let factory = tuneConfig.resourcesPerTrial else { return .success(OnceTrial(index: index, ref: trainable(config), group: nil)) }
        do {
            let group = try await factory.reserve(trialID(index))
            return .success(OnceTrial(index: index, ref: PlacementGroupFactory.submit(config, in: group, trainable), group: group))
        } catch {
            return .failure(error)
        }
    }

    /// A trial that could not start (its placement group cannot be made), as a result.
    func failedTrial(_ index: Int, _ config: TrialConfig, _ error: any Error) -> TrialResult {
        var config = config
        config.restored = nil
        return TrialResult(trialID: trialID(index), config: config, metrics: nil, error: "\(error)")
    }

    /// Trial `index` of a once trainable ended with `result`.
    private func record(
        _ index: Int, _ result: TrialResult, _ results: inout [Int: TrialResult], _ source: inout TrialSource, _ board: ProgressBoard,
        _ log: ExperimentLog
    ) async {
        results[index] = result
        if let metrics = result.metrics { storage?.reported(trialID(index), metrics) }
        source.completed(index, result)
        await board.set(index, result.error == nil ? .terminated : .error, metrics: result.metrics)
        await log.finished(index, result)
    }

    func trialID(_ index: Int) -> String { "\(name)_\(String(format: "%05d", index))" }

    private func finished(_ index: Int, _ config: TrialConfig, _ ref: ObjectRef<Metrics>) async -> TrialResult {
        do {
            return TrialResult(trialID: trialID(index), config: config, metrics: try await ray.get(ref), error: nil)
        } catch {
            return TrialResult(trialID: trialID(index), config: config, metrics: nil, error: "\(error)")
        }
    }
}

/// The searcher as the Tuner uses it: numbered trials, their configurations, at most `cap`; a
/// restored experiment's trials first (its unfinished ones, with their restore points).
struct TrialSource {
    var searcher: any Searcher
    let cap: Int
    private(set) var configs: [TrialConfig] = []
    private let restored: ExperimentState?

    init(searcher: any Searcher, cap: Int, restored: ExperimentState?) {
        self.searcher = searcher
        self.cap = cap
        self.restored = restored
        for (index, result) in restored?.finished.sorted(by: { $0.key < $1.key }) ?? [] {
            self.searcher.restore(trial: index, config: result.config, metrics: result.error == nil ? result.metrics : nil)
        }
    }

    /// The restored experiment's finished trials, by index.
    var finishedBefore: [Int: TrialResult] { restored?.finished ?? [:] }

    /// An unfinished restored trial's reports up to its checkpoint.
    func historyBefore(_ index: Int) -> [Metrics] { restored?.running[index]?.history ?? [] }

    /// The next trial, or nil when the searcher has no more (or the cap is reached).
    mutating func next() -> (Int, TrialConfig)? {
        while let restored, configs.count < restored.configs.count {
            let index = configs.count
            configs.append(restored.configs[index])
            guard restored.finished[index] == nil else { continue }  // kept, not run again
            var config = restored.configs[index]
            config.restored = restored.running[index]?.restore
            return (index, config)
        }
        guard configs.count < cap, let config = searcher.suggest(trial: configs.count) else { return nil }
        configs.append(config)
        return (configs.count - 1, config)
    }

    mutating func completed(_ index: Int, _ result: TrialResult) {
        searcher.onTrialComplete(trial: index, metrics: result.error == nil ? result.metrics : nil)
    }
}

/// Restarts left per trial.
struct FailureBudget {
    let maxFailures: Int
    private var used: [Int: Int] = [:]

    init(maxFailures: Int) { self.maxFailures = maxFailures }

    /// Whether trial `index` may restart once more (counting it).
    mutating func restart(_ index: Int) -> Bool {
        guard maxFailures < 0 || used[index, default: 0] < maxFailures else { return false }
        used[index, default: 0] += 1
        return true
    }
}
