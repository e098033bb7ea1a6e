import Foundation
import SwiftRay
import SwiftRayTune
import Synchronization
import XCTest

/// The Branin function, a standard test of optimizers: minimum 0.397887 on [-5, 10] x [0, 15].
func branin(_ config: TrialConfig) -> Double {
    let x = config["x"], y = config["y"]
    let b = 5.1 / (4 * Double.pi * Double.pi), c = 5 / Double.pi, t = 1 / (8 * Double.pi)
    return pow(y - b * x * x + c * x - 6, 2) + 10 * (1 - t) * cos(x) + 10
}

@Remote func braninObjective(_ config: TrialConfig) -> Metrics { ["loss": branin(config)] }

/// Records what a wrapping searcher passes on.
final class RecordingSearcher: Searcher, @unchecked Sendable {
    let completions = Mutex<[(Int, Metrics?)]>([])
    func suggest(trial: Int) -> TrialConfig? { trial < 2 ? TrialConfig(["n": .int(trial)]) : nil }
    func onTrialComplete(trial: Int, metrics: Metrics?) { completions.withLock { $0.append((trial, metrics)) } }
}

final class SearcherTests: XCTestCase {
    private let space: [String: Domain] = ["x": .uniform(-5, 10), "y": .uniform(0, 15)]

    /// The best loss a searcher finds in `trials` trials of Branin, run in order.
    private func best(_ searcher: any Searcher, trials: Int) -> Double {
        var searcher = searcher
        var best = Double.infinity
        for trial in 0..<trials {
            guard let config = searcher.suggest(trial: trial) else { break }
            let loss = branin(config)
            best = min(best, loss)
            searcher.onTrialComplete(trial: trial, metrics: ["loss": loss])
        }
        return best
    }

    func testTPEBeatsRandomSearchOnBranin() {
        let seeds: [UInt64] = Array(1...9)
        let tpe = seeds.map { best(TPESearcher(paramSpace: space, metric: "loss", mode: .min, seed: $0), trials: 60) }.sorted()
        let random = seeds.map { best(BasicVariantGenerator(paramSpace: space, numSamples: 60, seed: $0), trials: 60) }.sorted()
        print("Branin, 60 trials, median best over 9 seeds: TPE \(tpe[4]), random \(random[4])")
        XCTAssertLessThan(tpe[4], random[4], "TPE's median best beats random search's")
        XCTAssertLessThan(tpe[4], 0.397887 + 0.5, "and gets close to the minimum")
    }

    func testTPEModelsChoicesAndLogScales() {
        var tpe = TPESearcher(
            paramSpace: ["optimizer": .choice(["sgd", "adam", "rmsprop"]), "lr": .loguniform(1e-5, 1), "layers": .randint(1, 9)],
            metric: "score", mode: .max, startupTrials: 8, seed: 5)
        var picks: [String] = []
        for trial in 0..<60 {
            let config = tpe.suggest(trial: trial)!
            XCTAssertTrue((1e-5...1).contains(config["lr"]) && (1..<9).contains(config.int("layers")!))
            let score = (config.string("optimizer") == "adam" ? 1.0 : 0.0) - abs(log10(config["lr"]) + 3) / 10
            tpe.onTrialComplete(trial: trial, metrics: ["score": score])
            if trial >= 30 { picks.append(config.string("optimizer")!) }
        }
        XCTAssertGreaterThan(picks.filter { $0 == "adam" }.count, 15, "the better choice comes up most once modelled: \(picks)")
    }

    func testTheRepeaterPassesTheMeanOfItsRepeats() {
        let inner = RecordingSearcher()
        var repeater = Repeater(inner, repeat: 3)
        var configs: [TrialConfig] = []
        for trial in 0..<6 { configs.append(repeater.suggest(trial: trial)!) }
        XCTAssertNil(repeater.suggest(trial: 6), "the inner searcher's two configurations, three times each")
        XCTAssertEqual(configs.map { $0.int("n")! }, [0, 0, 0, 1, 1, 1])
        for (trial, loss) in [(0, 1.0), (1, 2.0), (2, 6.0), (3, 1.0), (4, 1.0)] { repeater.onTrialComplete(trial: trial, metrics: ["loss": loss]) }
        repeater.onTrialComplete(trial: 5, metrics: nil)
        let passed = inner.completions.withLock { $0 }
        XCTAssertEqual(passed.map(\.0), [0, 1])
        XCTAssertEqual(passed[0].1?["loss"], 3, "the mean of 1, 2 and 6")
        XCTAssertEqual(passed[1].1?["loss"], 1, "a failed repeat is left out of the mean")
        XCTAssertEqual(ConcurrencyLimiter(inner, maxConcurrent: 3).maxConcurrent, 3)
    }

    func testTPERunsTrialsThroughTheTuner() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        let searcher = ConcurrencyLimiter(TPESearcher(paramSpace: space, metric: "loss", mode: .min, seed: 3), maxConcurrent: 2)
        let results = try await Tuner($braninObjective.remote, tuneConfig: TuneConfig(numSamples: 40, metric: "loss", mode: .min, searchAlg: searcher)).fit()
        XCTAssertEqual(results.count, 40, "numSamples trials from the searcher")
        XCTAssertTrue(results.errors.isEmpty)
        XCTAssertLessThan(try results.bestResult().metrics?["loss"] ?? 99, 3)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }
}
