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

    public init(
        numSamples: Int = 1, metric: String? = nil, mode: Mode? = nil, maxConcurrentTrials: Int? = nil, seed: UInt64? = nil,
        scheduler: any TrialScheduler = FIFOScheduler(), stop: (any TrialStopper)? = nil, maxFailures: Int = 0,
        progress: ProgressOutput = .auto, progressInterval: Duration = .seconds(5), searchAlg: (any Searcher)? = nil,
        storagePath: String? = nil
    ) {
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
        defer { printing?.cancel() }
        let results: ResultGrid
        switch kind {
        case .once(let trainable):
            results = try await fitOnce(trainable, &source, limit: limit, board: board, log: log)
        case .reporting(let trainable):
            results = await fitReporting(trainable, &source, limit: limit, board: board, log: log)
        }
        if showsProgress { print(await board.table(metric: tuneConfig.metric, mode: tuneConfig.mode)) }
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
        var running: [(index: Int, ref: ObjectRef<Metrics>)] = []
        while true {
            while running.count < limit, let (index, config) = source.next() {
                running.append((index, trainable(config)))
                await board.add(index, config)
                await log.started(index, config)
            }
            guard !running.isEmpty else { break }
            // Everything finished by now, else the next to finish: one pass over the running
            // trials takes all that are done.
            let refs = running.map(\.ref)
            var (ready, _) = try await ray.wait(refs, numReturns: refs.count, timeout: .zero)
            if ready.isEmpty { (ready, _) = try await ray.wait(refs, numReturns: 1) }
            let done = Set(ready.map(\.id))
            var restarted: [(index: Int, ref: ObjectRef<Metrics>)] = []
            for trial in running where done.contains(trial.ref.id) {
                let config = source.configs[trial.index]
                let result = await finished(trial.index, config, trial.ref)
                if result.error != nil, failures.restart(trial.index) {
                    restarted.append((trial.index, trainable(config)))
                } else {
                    results[trial.index] = result
                    source.completed(trial.index, result)
                    await board.set(trial.index, result.error == nil ? .terminated : .error, metrics: result.metrics)
                    await log.finished(trial.index, result)
                }
            }
            running.removeAll { done.contains($0.ref.id) }
            running += restarted
        }
        return ResultGrid(results: results.keys.sorted().map { results[$0]! }, metric: tuneConfig.metric, mode: tuneConfig.mode)
    }

    private func trialID(_ index: Int) -> String { "\(name)_\(String(format: "%05d", index))" }

    private func finished(_ index: Int, _ config: TrialConfig, _ ref: ObjectRef<Metrics>) async -> TrialResult {
        do {
            return TrialResult(trialID: trialID(index), config: config, metrics: try await ray.get(ref), error: nil)
        } catch {
            return TrialResult(trialID: trialID(index), config: config, metrics: nil, error: "\(error)")
        }
    }

    /// Runs reporting trials, `limit` at once, each consuming its stream of reports and asking
    /// the scheduler after every one.
    private func fitReporting(
        _ trainable: @escaping ReportingTrainable, _ source: inout TrialSource, limit: Int, board: ProgressBoard, log: ExperimentLog
    ) async -> ResultGrid {
        let controller = TrialController(scheduler: tuneConfig.scheduler, stopper: tuneConfig.stop)
        var results = source.finishedBefore
        await withTaskGroup(of: (Int, TrialResult).self) { group in
            var running = 0
            while true {
                while running < limit, let (index, config) = source.next() {
                    let id = trialID(index)
                    if await controller.stoppedAll {  // the trials not started end at once
                        results[index] = TrialResult(trialID: id, config: config, metrics: nil, error: nil, history: [])
                        source.completed(index, results[index]!)
                        continue
                    }
                    running += 1
                    let maxFailures = tuneConfig.maxFailures
                    let earlier = source.historyBefore(index)
                    await board.add(index, config)
                    await log.started(index, config)
                    group.addTask {
                        let result = await Self.runTrial(
                            id, config, trainable, index: index, controller: controller, maxFailures: maxFailures, board: board,
                            log: log, earlier: earlier)
                        await board.set(index, result.error == nil ? .terminated : .error, metrics: result.metrics)
                        return (index, result)
                    }
                }
                guard let (index, result) = await group.next() else { break }
                results[index] = result
                source.completed(index, result)
                await log.finished(index, result)
                running -= 1
            }
        }
        return ResultGrid(results: results.keys.sorted().map { results[$0]! }, metric: tuneConfig.metric, mode: tuneConfig.mode)
    }

    /// Runs one reporting trial to its end, a stop, or a failure past `maxFailures` (a failed
    /// run restarts from its last checkpoint, its later reports dropped from the history).
    private static func runTrial(
        _ id: String, _ config: TrialConfig, _ trainable: ReportingTrainable, index: Int, controller: TrialController, maxFailures: Int,
        board: ProgressBoard, log: ExperimentLog, earlier: [Metrics]
    ) async -> TrialResult {
        var history = earlier
        var restore = config.restored
        var failures = FailureBudget(maxFailures: maxFailures)
        var config = config
        config.restored = nil
        while true {
            var run = config
            run.restored = restore
            do {
                for try await ref in trainable(run) {
                    let report = try await ray.get(ref)
                    history.append(report.metrics)
                    await board.set(index, .running, metrics: report.metrics)
                    if let saved = report.checkpoint {
                        restore = RestorePoint(checkpoint: saved, iteration: history.count)
                        await log.checkpointed(index, restore!, history: history)
                    }
                    if await controller.decide(trial: index, metrics: report.metrics) == .stop { break }
                }
                return TrialResult(trialID: id, config: config, metrics: history.last, error: nil, history: history, checkpoint: restore?.checkpoint)
            } catch {
                guard failures.restart(index) else {
                    return TrialResult(
                        trialID: id, config: config, metrics: history.last, error: "\(error)", history: history, checkpoint: restore?.checkpoint)
                }
                history.removeLast(history.count - (restore?.iteration ?? 0))
            }
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

/// The scheduler and the stopper, asked for one report at a time.
actor TrialController {
    private var scheduler: any TrialScheduler
    private var stopper: (any TrialStopper)?
    /// The stopper ended the experiment.
    private(set) var stoppedAll = false

    init(scheduler: any TrialScheduler, stopper: (any TrialStopper)?) {
        self.scheduler = scheduler
        self.stopper = stopper
    }

    func decide(trial: Int, metrics: Metrics) -> SchedulerDecision {
        if stoppedAll { return .stop }
        let decision = scheduler.onResult(trial: trial, metrics: metrics)
        guard var stopper else { return decision }
        defer { self.stopper = stopper }
        if stopper.stopAll() {
            stoppedAll = true
            return .stop
        }
        return stopper.shouldStop(trial: trial, metrics: metrics) ? .stop : decision
    }
}
