import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RayTesting
import SwiftRay
import SwiftRayTune
import XCTest

/// The experiment as the dashboard shows it: `/api/tune`, `/metrics`, and the Tune page drawn by
/// a headless browser.
final class TuneDashboardTests: XCTestCase {
    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testTheDashboardShowsTrialsCurvesAndMetrics() async throws {
        try await Ray.start(numCPUs: 2, dashboardPort: 0)
        let base = try XCTUnwrap(ray.dashboardURL)
        let results = try await Tuner(
            $steadyCurve.remote, paramSpace: ["quality": .grid([0.5, 1.0]), "iterations": 20],
            tuneConfig: TuneConfig(metric: "accuracy", mode: .max), name: "curves"
        ).fit()
        XCTAssertTrue(results.errors.isEmpty)

        let experiments = try JSONDecoder().decode([ExperimentStatus].self, from: Data(try await Self.get(base + "/api/tune?name=curves").utf8))
        let experiment = try XCTUnwrap(experiments.first)
        XCTAssertTrue(experiment.finished)
        XCTAssertEqual(experiment.metric, "accuracy")
        XCTAssertEqual(experiment.trials.map(\.trialID), ["curves_00000", "curves_00001"])
        XCTAssertEqual(experiment.trials.map(\.status), ["TERMINATED", "TERMINATED"])
        XCTAssertEqual(experiment.trials[1].curve, results[1].history.map { $0["accuracy"]! }, "the learning curve, report by report")
        XCTAssertEqual(experiment.trials[1].iterations, 20)
        let sameState = try await ray.state.experiments()
        XCTAssertTrue(sameState.contains(experiment))

        let metrics = try await Self.get(base + "/metrics")
        XCTAssertTrue(metrics.contains("ray_tune_trials{experiment=\"curves\",state=\"TERMINATED\"} 2"), metrics)
        let best = results[1].metrics!["accuracy"]!
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("ray_tune_trial_metric{experiment=\"curves\",trial=\"curves_00001\",metric=\"accuracy\"}") }
        XCTAssertEqual(line.flatMap { Double($0.split(separator: " ").last!) } ?? .nan, best, accuracy: 1e-9)

        guard let rendered = try RayTesting.renderedPage("\(base)/#tune") else { throw XCTSkip("the page needs chromium (.ci/run installs it)") }
        let (status, page) = rendered
        XCTAssertEqual(status, 0, page)
        XCTAssertFalse(page.contains("Uncaught"), page)
        for text in ["curves (finished)", "curves_00001", "TERMINATED", "Best accuracy"] {
            XCTAssertTrue(page.contains(text), "the Tune page shows \(text)")
        }
        XCTAssertEqual(page.components(separatedBy: "class=\"curve\"").count - 1, 2, "a curve per trial")
    }

    func testALargeExperimentPublishesItsBestThousandTrialsAndEveryCount() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        let results = try await Tuner($tuneObjective.remote, paramSpace: ["a": .uniform(0, 1), "b": .uniform(0, 20)],
                                      tuneConfig: TuneConfig(numSamples: 1200, metric: "score", mode: .min, seed: 3), name: "large").fit()
        let experiments = try await ray.state.experiments()
        let experiment = try XCTUnwrap(experiments.first { $0.name == "large" })
        XCTAssertEqual(experiment.counts, ["TERMINATED": 1200])
        XCTAssertEqual(experiment.trials.count, ExperimentStatus.maxTrials)
        let best = try results.bestResult()
        XCTAssertTrue(experiment.trials.contains { $0.trialID == best.trialID }, "the best are kept")
        let worst = try results.bestResult(metric: "score", mode: .max)
        XCTAssertFalse(experiment.trials.contains { $0.trialID == worst.trialID }, "the worst are left out")
    }

    static func get(_ url: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: url)!)
        return String(decoding: data, as: UTF8.self)
    }
}
