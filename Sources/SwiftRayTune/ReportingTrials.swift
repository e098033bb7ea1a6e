import Foundation
import SwiftRay

/// What one run of a reporting trial came to.
enum TrialOutcome: Sendable {
    case ended(TrialResult)
    /// Paused by the scheduler: its configuration (with where it resumes) and its reports so far.
    case paused(config: TrialConfig, history: [Metrics])
}

/// What a trial does after a report.
enum TrialStep: Sendable {
    case `continue`, stop, pause
    /// Start over from `from` with `config` (PBT).
    case restart(TrialConfig, from: RestorePoint)
}

/// What every run of a reporting trial shares.
struct TrialRunContext: Sendable {
    let trainable: Tuner.ReportingTrainable
    let controller: TrialController
    let board: ProgressBoard
    let log: ExperimentLog
    let maxFailures: Int
    let checkpoints: CheckpointConfig
    let storage: TrialStorage?
    let resources: PlacementGroupFactory?
}

/// Trials the scheduler paused, and its releases. A release may come before the Tuner has the
/// pause (the trial's decision and another trial's report race), so it waits for the pause.
struct PausedTrials {
    private var paused: [Int: (config: TrialConfig, history: [Metrics])] = [:]
    private var resumable: [Int] = []
    private var stopping: Set<Int> = []

    var isEmpty: Bool { paused.isEmpty }
    var all: [Int] { paused.keys.sorted() }

    mutating func pause(_ index: Int, config: TrialConfig, history: [Metrics]) { paused[index] = (config, history) }

    mutating func release(resume: [Int], stop: [Int]) {
        resumable += resume.filter { !resumable.contains($0) }
        stopping.formUnion(stop)
    }

    /// The next released trial that has paused, taken out.
    mutating func nextResumable() -> (Int, TrialConfig, [Metrics])? {
        guard let position = resumable.firstIndex(where: { paused[$0] != nil }) else { return nil }
        let index = resumable.remove(at: position)
        let trial = paused.removeValue(forKey: index)!
        return (index, trial.config, trial.history)
    }

    /// Paused trials to end now: those released to stop (or all of them), taken out.
    mutating func takeStopping(all everything: Bool) -> [(index: Int, config: TrialConfig, history: [Metrics])] {
        let indices = everything ? all : stopping.filter { paused[$0] != nil }.sorted()
        return indices.map { index in
            stopping.remove(index)
            resumable.removeAll { $0 == index }
            let trial = paused.removeValue(forKey: index)!
            return (index, trial.config, trial.history)
        }
    }
}

extension Tuner {
    /// Runs reporting trials, `limit` at once, each consuming its stream of reports and asking the
    /// scheduler after every one; paused trials give their slot to others until released.
    func fitReporting(
        _ trainable: @escaping ReportingTrainable, _ source: inout TrialSource, limit: Int, board: ProgressBoard, log: ExperimentLog
    ) async -> ResultGrid {
        let controller = TrialController(scheduler: tuneConfig.scheduler, stopper: tuneConfig.stop)
        let context = TrialRunContext(
            trainable: trainable, controller: controller, board: board, log: log, maxFailures: tuneConfig.maxFailures,
            checkpoints: tuneConfig.checkpoints, storage: storage,
            resources: tuneConfig.resourcesPerTrial)
        var results = source.finishedBefore
        var paused = PausedTrials()
        var searchEnded = false
        await withTaskGroup(of: (Int, TrialOutcome).self) { group in
            var running = 0
            func start(_ index: Int, _ config: TrialConfig, _ earlier: [Metrics]) {
                running += 1
                let id = trialID(index)
                group.addTask { (index, await Self.runTrial(id, index: index, config, earlier: earlier, context)) }
            }
            func end(_ index: Int, _ result: TrialResult) async {
                results[index] = result
                source.completed(index, result)
                await board.set(index, result.error == nil ? .terminated : .error, metrics: result.metrics)
                await log.finished(index, result)
                await controller.completed(index)
            }
            func apply(_ released: (resume: [Int], stop: [Int])) async {
                paused.release(resume: released.resume, stop: released.stop)
                for trial in paused.takeStopping(all: await controller.stoppedAll) {
                    let index = trial.index
                    var config = trial.config
                    let checkpoint = config.restored?.checkpoint
                    config.restored = nil
                    await end(index, TrialResult(
                        trialID: trialID(index), config: config, metrics: trial.history.last, error: nil, history: trial.history,
                        checkpoint: checkpoint))
                }
            }
            while true {
                while running < limit {
                    if let (index, config, history) = paused.nextResumable() {
                        await board.set(index, .running)
                        start(index, config, history)
                        continue
                    }
                    guard let (index, config) = source.next() else {
                        guard !searchEnded else { break }
                        searchEnded = true
                        await apply(await controller.searchEnded())
                        continue
                    }
                    if await controller.stoppedAll {  // the trials not started end at once
                        await end(index, TrialResult(trialID: trialID(index), config: config, metrics: nil, error: nil, history: []))
                        continue
                    }
                    await controller.added(index, config)
                    await board.add(index, config)
                    await log.started(index, config)
                    storage?.started(trialID(index), config)
                    start(index, config, source.historyBefore(index))
                }
                guard let (index, outcome) = await group.next() else {
                    guard !paused.isEmpty else { break }
                    paused.release(resume: paused.all, stop: [])  // nothing runs and the scheduler holds them all: resume rather than hang
                    continue
                }
                running -= 1
                switch outcome {
                case .ended(let result):
                    await end(index, result)
                case .paused(let config, let history):
                    paused.pause(index, config: config, history: history)
                    await board.set(index, .paused)
                }
                await apply(await controller.releasePaused())
            }
        }
        return ResultGrid(results: results.keys.sorted().map { results[$0]! }, metric: tuneConfig.metric, mode: tuneConfig.mode)
    }

    /// Runs one reporting trial in a placement group of its own when `resourcesPerTrial` asks for
    /// one, removed when the run ends or pauses.
    static func runTrial(_ id: String, index: Int, _ start: TrialConfig, earlier: [Metrics], _ context: TrialRunContext) async -> TrialOutcome {
        guard let factory = context.resources else { return await runTrial(id, index: index, start, earlier: earlier, context, group: nil) }
        do {
            let group = try await factory.reserve(id)
            let outcome = await runTrial(id, index: index, start, earlier: earlier, context, group: group)
            try? await ray.removePlacementGroup(group)
            return outcome
        } catch {
            var config = start
            config.restored = nil
            return .ended(TrialResult(trialID: id, config: config, metrics: earlier.last, error: "\(error)", history: earlier))
        }
    }

    /// Runs one reporting trial to its end, a stop, a pause, or a failure past `maxFailures` (a
    /// failed run restarts from its last checkpoint, its later reports dropped from the history).
    private static func runTrial(
        _ id: String, index: Int, _ start: TrialConfig, earlier: [Metrics], _ context: TrialRunContext, group: PlacementGroup?
    ) async -> TrialOutcome {
        var history = earlier
        var config = start
        var restore = config.restored
        config.restored = nil
        var kept = history.count  // reports up to the checkpoint a restart resumes from
        var failures = FailureBudget(maxFailures: context.maxFailures)
        var checkpoints = KeptCheckpoints(context.checkpoints, storage: context.storage, trialID: id)
        func result(_ error: (any Error)?) -> TrialResult {
            TrialResult(
                trialID: id, config: config, metrics: history.last, error: error.map { "\($0)" }, history: history,
                checkpoint: restore?.checkpoint, bestCheckpoints: checkpoints.best)
        }
        runs: while true {
            var run = config
            run.restored = restore
            do {
                for try await ref in PlacementGroupFactory.submit(run, in: group, context.trainable) {
                    let report = try await ray.get(ref)
                    history.append(report.metrics)
                    await context.board.set(index, .running, metrics: report.metrics)
                    context.storage?.reported(id, report.metrics)
                    if let saved = report.checkpoint {
                        let point = RestorePoint(checkpoint: saved, iteration: Int(report.metrics["training_iteration"] ?? Double(history.count)))
                        restore = point
                        kept = history.count
                        checkpoints.add(saved, metrics: report.metrics)
                        await context.controller.checkpointed(index, point)
                        await context.log.checkpointed(index, point, history: history, config: config)
                    }
                    switch await context.controller.decide(trial: index, metrics: report.metrics) {
                    case .continue:
                        continue
                    case .stop:
                        return .ended(result(nil))
                    case .pause:
                        var paused = config
                        paused.restored = restore
                        return .paused(config: paused, history: Array(history.prefix(kept)))
                    case .restart(let next, let from):
                        config = next
                        restore = from
                        kept = history.count
                        continue runs
                    }
                }
                return .ended(result(nil))
            } catch {
                guard failures.restart(index) else { return .ended(result(error)) }
                history.removeLast(history.count - kept)
            }
        }
    }
}

/// The scheduler and the stopper, asked for one event at a time, and every trial's latest
/// checkpoint (what PBT copies).
actor TrialController {
    private var scheduler: any TrialScheduler
    private var stopper: (any TrialStopper)?
    private var latest: [Int: RestorePoint] = [:]
    /// The stopper ended the experiment.
    private(set) var stoppedAll = false

    init(scheduler: any TrialScheduler, stopper: (any TrialStopper)?) {
        self.scheduler = scheduler
        self.stopper = stopper
    }

    func added(_ trial: Int, _ config: TrialConfig) { scheduler.onTrialAdd(trial: trial, config: config) }

    func checkpointed(_ trial: Int, _ point: RestorePoint) { latest[trial] = point }

    func completed(_ trial: Int) { scheduler.onTrialComplete(trial: trial) }

    func searchEnded() -> (resume: [Int], stop: [Int]) {
        scheduler.onSearchEnd()
        return scheduler.releasePaused()
    }

    func releasePaused() -> (resume: [Int], stop: [Int]) { scheduler.releasePaused() }

    func decide(trial: Int, metrics: Metrics) -> TrialStep {
        if stoppedAll { return .stop }
        let decision = scheduler.onResult(trial: trial, metrics: metrics)
        if var stopper {
            defer { self.stopper = stopper }
            if stopper.stopAll() {
                stoppedAll = true
                return .stop
            }
            if stopper.shouldStop(trial: trial, metrics: metrics) { return .stop }
        }
        switch decision {
        case .continue: return .continue
        case .stop: return .stop
        case .pause: return .pause
        case .exploit(let donor, let config):
            guard let point = latest[donor] else {
                scheduler.onExploitSkipped(trial: trial)
                return .continue
            }
            return .restart(config, from: point)
        }
    }
}
