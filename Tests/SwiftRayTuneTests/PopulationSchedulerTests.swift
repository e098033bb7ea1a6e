import Foundation
import SwiftRay
import SwiftRayTune
import XCTest

/// HyperBand's and PBT's decisions on given reports (no cluster).
final class HyperBandDecisionTests: XCTestCase {
    private func report(_ time: Double, _ value: Double) -> Metrics { ["training_iteration": time, "score": value] }

    func testBracketsHalveOnceEveryTrialReachedTheMilestone() {
        // maxT 9, factor 3: three brackets per band; the first holds 9 trials with milestone 1.
        var hyperband = HyperBandScheduler(metric: "score", mode: .max, maxT: 9, reductionFactor: 3)
        XCTAssertEqual(hyperband.bracketsPerBand, 3)
        for trial in 0..<9 { hyperband.onTrialAdd(trial: trial, config: TrialConfig()) }
        XCTAssertEqual(hyperband.bracket(of: 8), 0)
        for trial in 0..<8 {
            XCTAssertEqual(hyperband.onResult(trial: trial, metrics: report(1, Double(trial))), .pause, "waits for the rest of its bracket")
        }
        XCTAssertTrue(hyperband.releasePaused() == ([], []))
        XCTAssertEqual(hyperband.onResult(trial: 8, metrics: report(1, 8)), .continue, "the last to arrive is among the best third")
        let released = hyperband.releasePaused()
        XCTAssertEqual(released.resume, [6, 7])
        XCTAssertEqual(released.stop, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(hyperband.onResult(trial: 8, metrics: report(2, 8)), .continue, "milestone 3 next")
        XCTAssertEqual(hyperband.onResult(trial: 7, metrics: report(3, 9)), .pause)
        XCTAssertEqual(hyperband.onResult(trial: 8, metrics: report(3, 1)), .pause)
        XCTAssertEqual(hyperband.onResult(trial: 6, metrics: report(3, 2)), .stop, "one of three goes on: trial 7")
        XCTAssertTrue(hyperband.releasePaused() == ([7], [8]))
        XCTAssertEqual(hyperband.onResult(trial: 7, metrics: report(9, 10)), .stop, "every trial stops at maxT")
        // The next bracket: 5 trials, milestone 3.
        for trial in 9..<14 { hyperband.onTrialAdd(trial: trial, config: TrialConfig()) }
        XCTAssertEqual(hyperband.bracket(of: 13), 1)
        hyperband.onTrialAdd(trial: 14, config: TrialConfig())
        XCTAssertEqual(hyperband.bracket(of: 14), 2, "a full bracket opens the next")
        XCTAssertEqual(hyperband.onResult(trial: 9, metrics: report(2, 1)), .continue, "before milestone 3")
    }

    func testTheSearchEndingHalvesAPartBracketAndEndedTrialsDoNotBlock() {
        var hyperband = HyperBandScheduler(metric: "loss", mode: .min, maxT: 9, reductionFactor: 3)
        for trial in 0..<4 { hyperband.onTrialAdd(trial: trial, config: TrialConfig()) }
        let losses = [0.4, 0.1, 0.3, 0.2]
        for trial in 0..<3 {
            XCTAssertEqual(hyperband.onResult(trial: trial, metrics: ["training_iteration": 1, "loss": losses[trial]]), .pause)
        }
        hyperband.onTrialComplete(trial: 3)  // failed before its milestone
        hyperband.onSearchEnd()
        let released = hyperband.releasePaused()
        XCTAssertEqual(released.resume, [1], "ceil(3 / 3) of the three live trials: the smallest loss")
        XCTAssertEqual(released.stop, [0, 2])
    }
}

final class PBTDecisionTests: XCTestCase {
    private func report(_ time: Double, _ value: Double) -> Metrics { ["training_iteration": time, "score": value] }

    func testTheBottomQuarterCopiesATopTrialAndPerturbsItsConfig() throws {
        var pbt = PopulationBasedTraining(
            metric: "score", mode: .max, perturbationInterval: 2,
            hyperparamMutations: ["lr": .domain(.uniform(0, 1)), "batch": .values([16, 32, 64, 128])], resampleProbability: 0, seed: 5)
        for trial in 0..<4 { pbt.onTrialAdd(trial: trial, config: TrialConfig(["lr": .double(0.1 * Double(trial + 1)), "batch": 32])) }
        for trial in 0..<4 { XCTAssertEqual(pbt.onResult(trial: trial, metrics: report(1, Double(trial))), .continue, "before the interval") }
        XCTAssertEqual(pbt.onResult(trial: 3, metrics: report(2, 3)), .continue, "the top trial goes on")
        XCTAssertEqual(pbt.onResult(trial: 1, metrics: report(2, 1)), .continue, "the middle goes on")
        guard case .exploit(let donor, let config) = pbt.onResult(trial: 0, metrics: report(2, 0)) else {
            return XCTFail("the bottom trial exploits")
        }
        XCTAssertEqual(donor, 3, "the top quarter of four: one trial")
        let lr = try XCTUnwrap(config.value("lr")?.double)
        XCTAssertTrue(abs(lr - 0.4 * 1.2) < 1e-12 || abs(lr - 0.4 * 0.8) < 1e-12, "perturbed by 1.2 or 0.8: \(lr)")
        XCTAssertTrue([16, 64].contains(config.int("batch")), "a neighbour of 32")
        XCTAssertEqual(pbt.exploits.map(\.trial), [0])
        XCTAssertEqual(pbt.onResult(trial: 0, metrics: report(3, 5)), .continue, "the next perturbation is an interval later")
        pbt.onExploitSkipped(trial: 0)
        XCTAssertTrue(pbt.exploits.isEmpty, "a skipped exploit is forgotten")
    }

    func testBurnInAndTooSmallAPopulation() {
        var pbt = PopulationBasedTraining(metric: "score", mode: .min, perturbationInterval: 1, burnInPeriod: 3,
                                          hyperparamMutations: ["x": .values([1, 2])], seed: 1)
        pbt.onTrialAdd(trial: 0, config: TrialConfig(["x": 1]))
        pbt.onTrialAdd(trial: 1, config: TrialConfig(["x": 2]))
        XCTAssertEqual(pbt.onResult(trial: 0, metrics: report(1, 5)), .continue, "burn-in")
        XCTAssertEqual(pbt.onResult(trial: 1, metrics: report(3, 1)), .continue, "the best (min mode)")
        if case .exploit(let donor, _) = pbt.onResult(trial: 0, metrics: report(3, 5)) {
            XCTAssertEqual(donor, 1)
        } else {
            XCTFail("the worse of two exploits the better")
        }
        pbt.onTrialComplete(trial: 1)
        XCTAssertEqual(pbt.onResult(trial: 0, metrics: report(4, 9)), .continue, "alone: nobody to copy")
    }
}
