import Foundation
import SwiftRay
import SwiftRayTune
import XCTest

@Remote func tuneObjective(_ config: TrialConfig) -> Metrics {
    ["score": pow(config["a"], 2) + config["b"]]
}

struct Refused: Error, CustomStringConvertible {
    var description: String { "refused this configuration" }
}

/// Fails for odd `n`.
@Remote func pickyObjective(_ config: TrialConfig) throws -> Metrics {
    guard let n = config.int("n"), n % 2 == 0 else { throw Refused() }
    return ["value": Double(n)]
}

/// Tune over a real local cluster: trials as tasks in worker processes.
final class TunerTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testTheSeedsExampleFindsTheBestOfAHundredTrials() async throws {
        let tuner = Tuner($tuneObjective.remote, paramSpace: ["a": .uniform(0, 1), "b": .uniform(0, 20)],
                          tuneConfig: TuneConfig(numSamples: 100, seed: 7))
        let results = try await tuner.fit()
        XCTAssertEqual(results.count, 100)
        XCTAssertTrue(results.errors.isEmpty)
        let best = try results.bestResult(metric: "score", mode: .min)
        let scores = results.compactMap { $0.metrics?["score"] }
        XCTAssertEqual(best.metrics?["score"], scores.min())
        XCTAssertEqual(best.metrics?["score"] ?? .nan, pow(best.config["a"], 2) + best.config["b"], accuracy: 1e-12, "computed in the task")
        for result in results {
            XCTAssertTrue((0..<1).contains(result.config["a"]) && (0..<20).contains(result.config["b"]), "\(result.config)")
        }
        let worst = try results.bestResult(metric: "score", mode: .max)
        XCTAssertEqual(worst.metrics?["score"], scores.max())
        XCTAssertThrowsError(try results.bestResult()) { XCTAssertEqual($0 as? TuneError, .noMetric) }
        XCTAssertThrowsError(try results.bestResult(metric: "loss", mode: .min)) { XCTAssertEqual($0 as? TuneError, .noTrialReported("loss")) }
    }

    func testFailedTrialsKeepTheirErrorAndTheRestGoOn() async throws {
        let tuner = Tuner($pickyObjective.remote, paramSpace: ["n": .grid([1, 2, 3, 4])],
                          tuneConfig: TuneConfig(metric: "value", mode: .max, maxConcurrentTrials: 1))
        let results = try await tuner.fit()
        XCTAssertEqual(results.map { $0.config.int("n") }, [1, 2, 3, 4], "trial order")
        XCTAssertEqual(results.errors.map { $0.config.int("n") }, [1, 3])
        XCTAssertTrue(results.errors.allSatisfy { $0.error?.contains("refused this configuration") ?? false })
        XCTAssertEqual(try results.bestResult().metrics?["value"], 4)
        let csv = results.csv().split(separator: "\n")
        XCTAssertEqual(csv.first, "trial_id,config/n,value,error")
        XCTAssertEqual(csv[2], "trial_00001,2,2.0,")
        XCTAssertTrue(csv[1].hasPrefix("trial_00000,1,,"), String(csv[1]))
        let decoded = try JSONDecoder().decode([TrialResult].self, from: Data(try results.json().utf8))
        XCTAssertEqual(decoded.map(\.trialID), results.map(\.trialID))
    }

    func testTrialsRunWithTheirTasksOptions() async throws {
        // Two CPUs per trial on a two-CPU node: one trial at a time, all finishing.
        let tuner = Tuner($tuneObjective.options(numCPUs: 2).remote, paramSpace: ["a": .grid([0, 1]), "b": 1], tuneConfig: TuneConfig())
        let results = try await tuner.fit()
        XCTAssertEqual(results.compactMap { $0.metrics?["score"] }, [1, 2])
        let impossible = try await Tuner($tuneObjective.options(numCPUs: 64).remote, paramSpace: ["a": 1, "b": 1]).fit()
        XCTAssertTrue(impossible[0].error?.contains("TaskUnschedulableError") ?? false, "\(impossible[0])")
    }
}

/// A trainable the sampling tests never run.
let notRun: Tuner.Trainable = { _ in fatalError("not run") }

/// The search space and the variant generator, without a cluster.
final class SearchSpaceTests: XCTestCase {
    func testEveryDomainSamplesWithinItsBounds() {
        let space: [String: Domain] = [
            "u": .uniform(-1, 1), "q": .quniform(0, 10, q: 2.5), "log": .loguniform(1e-4, 1e-1), "normal": .randn(mean: 5, sd: 0),
            "int": .randint(3, 7), "logint": .lograndint(1, 1000), "pick": .choice(["sgd", "adam"]), "fixed": 0.5,
        ]
        let configs = Tuner(notRun, paramSpace: space, tuneConfig: TuneConfig(numSamples: 500, seed: 1)).configurations()
        XCTAssertEqual(configs.count, 500)
        for config in configs {
            XCTAssertTrue((-1..<1).contains(config["u"]))
            XCTAssertEqual(config["q"].truncatingRemainder(dividingBy: 2.5), 0)
            XCTAssertTrue((1e-4..<1e-1).contains(config["log"]))
            XCTAssertEqual(config["normal"], 5)
            XCTAssertTrue((3..<7).contains(config.int("int")!))
            XCTAssertTrue((1..<1000).contains(config.int("logint")!))
            XCTAssertTrue(["sgd", "adam"].contains(config.string("pick")!))
            XCTAssertEqual(config["fixed"], 0.5)
        }
        XCTAssertEqual(Set(configs.map { config in config.int("int")! }), [3, 4, 5, 6], "every integer comes up")
        let small = configs.filter { config in config["log"] < 1e-3 }.count
        XCTAssertTrue((100...230).contains(small), "loguniform: a third of samples per decade, got \(small) of 500 below 1e-3")
        XCTAssertTrue(configs.map { config in config["u"] }.isEmpty == false)
        XCTAssertTrue(configs.allSatisfy { config in config["missing"].isNaN }, "a missing number reads as NaN")
    }

    func testGridsAreCrossProductsRepeatedPerSample() {
        let space: [String: Domain] = ["a": .grid([1, 2, 3]), "opt": .nested(["name": .grid(["x", "y"]), "lr": .uniform(0, 1)])]
        let configs = Tuner(notRun, paramSpace: space, tuneConfig: TuneConfig(numSamples: 2, seed: 3)).configurations()
        XCTAssertEqual(configs.count, 12)
        let points = configs.map { "\($0.int("a")!)\($0.string("opt.name")!)" }
        XCTAssertEqual(points, ["1x", "1y", "2x", "2y", "3x", "3y", "1x", "1y", "2x", "2y", "3x", "3y"])
        XCTAssertEqual(Set(configs.map { $0["opt.lr"] }).count, 12, "the other parameters are sampled for each")
    }

    func testComputedValuesSeeTheOthersAndSeedsReproduce() {
        let space: [String: Domain] = [
            "width": .randint(1, 100),
            "double": .sampleFrom { config in .int(config.int("width")! * 2) },
            "inner": .nested(["half": .sampleFrom { config in .double(config["width"] / 2) }]),
        ]
        let first = Tuner(notRun, paramSpace: space, tuneConfig: TuneConfig(numSamples: 20, seed: 42)).configurations()
        for config in first {
            XCTAssertEqual(config.int("double"), config.int("width")! * 2)
            XCTAssertEqual(config["inner.half"], config["width"] / 2)
        }
        let again = Tuner(notRun, paramSpace: space, tuneConfig: TuneConfig(numSamples: 20, seed: 42)).configurations()
        XCTAssertEqual(first, again, "the same seed samples the same trials")
        let other = Tuner(notRun, paramSpace: space, tuneConfig: TuneConfig(numSamples: 20, seed: 43)).configurations()
        XCTAssertNotEqual(first, other)
    }
}

/// A learning curve: `quality * (1 - e^(-t/10))` at iteration t, for `iterations` iterations,
/// with a checkpoint of the iteration every 10.
@Remote func learningCurve(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        let quality = session.config["quality"]
        for step in 1...(session.config.int("iterations") ?? 100) {
            let checkpoint = step % 10 == 0 ? try Checkpoint(step) : nil
            try await session.report(["accuracy": quality * (1 - exp(-Double(step) / 10))], checkpoint: checkpoint)
        }
    }
}

/// Reporting trainables and schedulers on a real cluster.
final class SchedulerTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    /// One trial at a time, so ASHA's decisions (which depend on the order reports come in) are
    /// the same every run.
    private func tuner(_ scheduler: any TrialScheduler) -> Tuner {
        Tuner($learningCurve.options(generatorBackpressure: 1).remote, paramSpace: ["quality": .uniform(0, 1), "iterations": 100],
              tuneConfig: TuneConfig(numSamples: 64, metric: "accuracy", mode: .max, maxConcurrentTrials: 1, seed: 11, scheduler: scheduler))
    }

    func testReportsReachTheResultsWithTheirCheckpoints() async throws {
        let results = try await Tuner($learningCurve.remote, paramSpace: ["quality": 0.5, "iterations": 25]).fit()
        let trial = try XCTUnwrap(results.first)
        XCTAssertNil(trial.error)
        XCTAssertEqual(trial.history.count, 25)
        XCTAssertEqual(trial.history.map { $0["training_iteration"] }, (1...25).map(Double.init))
        XCTAssertEqual(trial.metrics?["accuracy"] ?? 0, 0.5 * (1 - exp(-2.5)), accuracy: 1e-12, "the last report")
        XCTAssertEqual(try trial.checkpoint?.decode(Int.self), 20, "the last checkpoint reported")
    }

    func testASHAStopsPoorTrialsEarlyAndKeepsTheBest() async throws {
        let fifo = try await tuner(FIFOScheduler()).fit()
        let asha = try await tuner(ASHAScheduler(metric: "accuracy", mode: .max, maxT: 100, gracePeriod: 1, reductionFactor: 4)).fit()
        XCTAssertTrue(fifo.errors.isEmpty && asha.errors.isEmpty)
        let fifoIterations = fifo.map(\.history.count).reduce(0, +)
        let ashaIterations = asha.map(\.history.count).reduce(0, +)
        XCTAssertEqual(fifoIterations, 6400)
        XCTAssertLessThanOrEqual(ashaIterations, fifoIterations / 5, "ASHA uses at most 20% of FIFO's iterations")
        print("ASHA ran \(ashaIterations) of FIFO's \(fifoIterations) iterations")
        let fifoBest = try XCTUnwrap(fifo.bestResult().metrics?["accuracy"])
        let ashaBest = try XCTUnwrap(asha.bestResult().metrics?["accuracy"])
        XCTAssertGreaterThanOrEqual(ashaBest, fifoBest * 0.99, "the best within 1% of FIFO's")
        XCTAssertEqual(asha.filter { $0.history.count == 100 }.count >= 1, true, "the best trials run to maxT")
    }
}

/// ASHA's decisions on given reports (no cluster).
final class ASHADecisionTests: XCTestCase {
    private func report(_ time: Double, _ value: Double) -> Metrics { ["training_iteration": time, "score": value] }

    func testTrialsBelowTheRungsTopFractionStop() {
        // Milestones 1 and 2 (reduction factor 2, maxT 4): the cutoff at a rung is the median of
        // the values recorded there before.
        var asha = ASHAScheduler(metric: "score", mode: .max, maxT: 4, gracePeriod: 1, reductionFactor: 2)
        XCTAssertEqual(asha.onResult(trial: 0, metrics: report(1, 1.0)), .continue, "the first at a rung has no cutoff")
        XCTAssertEqual(asha.onResult(trial: 1, metrics: report(1, 0.5)), .stop, "below the median of [1.0]")
        XCTAssertEqual(asha.onResult(trial: 2, metrics: report(1, 2.0)), .continue)
        XCTAssertEqual(asha.onResult(trial: 3, metrics: report(1, 1.2)), .continue, "at least the median of [1.0, 0.5, 2.0]")
        XCTAssertEqual(asha.onResult(trial: 4, metrics: report(1, 1.05)), .stop, "below the median of [1.0, 0.5, 2.0, 1.2], 1.1")
        XCTAssertEqual(asha.onResult(trial: 0, metrics: report(1, 0.1)), .continue, "a rung decides once per trial")
        XCTAssertEqual(asha.onResult(trial: 0, metrics: report(2, 3.0)), .continue, "the first at milestone 2")
        XCTAssertEqual(asha.onResult(trial: 2, metrics: report(2, 2.5)), .stop, "below [3.0]'s median")
    }

    func testMinModeAndMaxT() {
        var asha = ASHAScheduler(metric: "score", mode: .min, maxT: 4, gracePeriod: 1, reductionFactor: 2)
        XCTAssertEqual(asha.onResult(trial: 0, metrics: report(1, 1.0)), .continue)
        XCTAssertEqual(asha.onResult(trial: 1, metrics: report(1, 3.0)), .stop, "larger is worse when minimizing")
        XCTAssertEqual(asha.onResult(trial: 0, metrics: report(2, 0.8)), .continue)
        XCTAssertEqual(asha.onResult(trial: 0, metrics: report(3, 0.7)), .continue, "no milestone at 3")
        XCTAssertEqual(asha.onResult(trial: 0, metrics: report(4, 0.6)), .stop, "every trial stops at maxT")
        XCTAssertEqual(ASHAScheduler.percentile([1, 2, 3, 4], 50), 2.5)
        XCTAssertEqual(ASHAScheduler.percentile([5], 75), 5)
    }
}

/// Stoppers and the median stopping rule on given reports (no cluster).
final class StopperTests: XCTestCase {
    private func iteration(_ step: Int, _ extra: Metrics = [:]) -> Metrics { extra.merging(["training_iteration": Double(step)]) { $1 } }

    func testEachStopperStopsWhereRaysDoes() {
        var maxIterations = MaximumIterationStopper(maxIterations: 3)
        XCTAssertEqual((1...4).map { maxIterations.shouldStop(trial: 0, metrics: iteration($0)) }, [false, false, true, true])
        var threshold = MetricThresholdStopper(metric: "accuracy", threshold: 0.9)
        XCTAssertFalse(threshold.shouldStop(trial: 0, metrics: ["accuracy": 0.5]))
        XCTAssertTrue(threshold.shouldStop(trial: 0, metrics: ["accuracy": 0.95]))
        var lowLoss = MetricThresholdStopper(metric: "loss", threshold: 0.1, mode: .min)
        XCTAssertTrue(lowLoss.shouldStop(trial: 0, metrics: ["loss": 0.05]))
        var plateau = TrialPlateauStopper(metric: "loss", std: 0.01, numResults: 3, gracePeriod: 3)
        let losses = [1.0, 0.5, 0.30, 0.300, 0.301, 0.302]
        XCTAssertEqual(losses.map { plateau.shouldStop(trial: 0, metrics: ["loss": $0]) }, [false, false, false, false, true, true])
        var timeout = TimeoutStopper(.zero)
        XCTAssertTrue(timeout.stopAll())
        var combined = CombinedStopper([MaximumIterationStopper(maxIterations: 10), MetricThresholdStopper(metric: "accuracy", threshold: 0.9)])
        XCTAssertFalse(combined.shouldStop(trial: 0, metrics: iteration(2, ["accuracy": 0.5])))
        XCTAssertTrue(combined.shouldStop(trial: 0, metrics: iteration(2, ["accuracy": 0.91])))
        XCTAssertTrue(combined.shouldStop(trial: 0, metrics: iteration(10, ["accuracy": 0.1])))
    }

    func testTheMedianRuleStopsTrialsWorseThanTheOthersAverages() {
        var rule = MedianStoppingRule(metric: "score", mode: .max, gracePeriod: 2, minSamplesRequired: 2)
        for trial in 0..<2 {
            XCTAssertEqual(rule.onResult(trial: trial, metrics: iteration(1, ["score": 1.0])), .continue)
            XCTAssertEqual(rule.onResult(trial: trial, metrics: iteration(2, ["score": 2.0])), .continue, "too few others yet")
        }
        XCTAssertEqual(rule.onResult(trial: 2, metrics: iteration(1, ["score": 0.1])), .continue, "within the grace period")
        XCTAssertEqual(rule.onResult(trial: 2, metrics: iteration(2, ["score": 0.2])), .stop, "best 0.2 below the others' mean 1.5")
        XCTAssertEqual(rule.onResult(trial: 3, metrics: iteration(2, ["score": 1.6])), .continue)
    }
}

extension SchedulerTests {
    func testStoppersEndTrialsAndTheExperiment() async throws {
        let capped = try await Tuner($learningCurve.options(generatorBackpressure: 1).remote, paramSpace: ["quality": .grid([0.5, 1.0])],
                                     tuneConfig: TuneConfig(stop: CombinedStopper([
                                         MaximumIterationStopper(maxIterations: 30), MetricThresholdStopper(metric: "accuracy", threshold: 0.6),
                                     ]))).fit()
        XCTAssertEqual(capped[0].history.count, 30, "quality 0.5 never reaches 0.6: stopped at 30 iterations")
        XCTAssertEqual(capped[1].history.count, 10, "quality 1.0 passes 0.6 at iteration 10")
        let timedOut = try await Tuner($learningCurve.remote, paramSpace: ["quality": .grid([0.1, 0.2, 0.3, 0.4])],
                                       tuneConfig: TuneConfig(maxConcurrentTrials: 1, stop: TimeoutStopper(.zero))).fit()
        XCTAssertEqual(timedOut.map(\.history.count), [1, 0, 0, 0], "the budget ends the running trial and starts no other")
    }
}

/// Reports `[step, resumed_from]` for 20 steps, checkpointing every 10; on a run not resumed from a
/// checkpoint it kills its own worker at step 15.
@Remote func crashOnceTrainable(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        let resumedFrom = try session.checkpoint?.decode(Int.self) ?? 0
        for step in (resumedFrom + 1)...20 {
            if step == 15 && session.checkpoint == nil { kill(getpid(), SIGKILL) }
            try await session.report(["step": Double(step), "resumed_from": Double(resumedFrom)], checkpoint: step % 10 == 0 ? try Checkpoint(step) : nil)
        }
    }
}

extension SchedulerTests {
    func testAFailedTrialResumesFromItsLastCheckpoint() async throws {
        // No task-level retries: the Tuner restarts the trial itself, from its checkpoint.
        let trainable: Tuner.ReportingTrainable = $crashOnceTrainable.options(maxRetries: 0, generatorBackpressure: 1).remote
        let resumed = try await Tuner(trainable, tuneConfig: TuneConfig(maxFailures: 1)).fit()
        let trial = try XCTUnwrap(resumed.first)
        XCTAssertNil(trial.error)
        XCTAssertEqual(trial.history.map { $0["training_iteration"] }, (1...20).map(Double.init), "iterations count on across the restart")
        XCTAssertEqual(trial.history.map { $0["step"] }, (1...20).map(Double.init))
        XCTAssertEqual(trial.history.last?["resumed_from"], 10, "the restart resumed from the checkpoint at 10")
        let failed = try await Tuner(trainable).fit()
        XCTAssertTrue(failed[0].error?.contains("WorkerCrashedError") ?? false, "\(failed[0])")
        // The reports that left the process before it died are kept (the last may die with it).
        XCTAssertTrue((13...14).contains(failed[0].history.count), "\(failed[0].history.count) reports")
    }
}

/// A class trainable: a weight decaying by `rate` each step.
struct DecayingWeight: ClassTrainable {
    var weight: Double
    let rate: Double

    init(config: TrialConfig) {
        weight = 1
        rate = config["rate"]
    }

    mutating func step() -> Metrics {
        weight *= rate
        return ["loss": weight]
    }

    func save() throws -> Checkpoint { try Checkpoint(weight) }

    mutating func restore(from checkpoint: Checkpoint) throws { weight = try checkpoint.decode(Double.self) }
}

@Remote func decayingWeight(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config, DecayingWeight.self, checkpointEvery: 5)
}

extension SchedulerTests {
    func testClassTrainablesStepSaveAndStop() async throws {
        let results = try await Tuner(
            $decayingWeight.options(generatorBackpressure: 1).remote, paramSpace: ["rate": .grid([0.5, 0.9])],
            tuneConfig: TuneConfig(metric: "loss", mode: .min, stop: MaximumIterationStopper(maxIterations: 12))
        ).fit()
        XCTAssertEqual(results.map(\.history.count), [12, 12], "stepped until the stopper")
        XCTAssertEqual(results[0].metrics?["loss"] ?? 0, pow(0.5, 12), accuracy: 1e-15)
        XCTAssertEqual(try results[1].checkpoint?.decode(Double.self) ?? 0, pow(0.9, 10), accuracy: 1e-15, "saved every 5 iterations")
        XCTAssertEqual(try results.bestResult().config["rate"], 0.5)
        // Scopes: rate 0.9's first loss (0.9) is worse than 0.5's; its mean too.
        XCTAssertEqual(try results.bestResult(metric: "loss", mode: .max, scope: .all).config["rate"], 0.9)
        XCTAssertEqual(try results.bestResult(scope: .average).config["rate"], 0.5)
        XCTAssertEqual(try results.bestResult(metric: "loss", mode: .max, scope: .lastAverage(5)).config["rate"], 0.9)
    }

    func testAClassTrainableRunsGivenByItsType() async throws {
        let results = try await Tuner(
            DecayingWeight.self, checkpointEvery: 4, maxIterations: 8, numCPUs: 0.5, paramSpace: ["rate": .grid([0.5, 0.9])],
            tuneConfig: TuneConfig(metric: "loss", mode: .min)
        ).fit()
        XCTAssertTrue(results.errors.isEmpty, "\(results.errors)")
        XCTAssertEqual(results.map(\.history.count), [8, 8])
        XCTAssertEqual(results[1].metrics?["loss"] ?? 0, pow(0.9, 8), accuracy: 1e-15)
        XCTAssertEqual(try results[0].checkpoint?.decode(Double.self) ?? 0, pow(0.5, 8), accuracy: 1e-15)
    }
}
