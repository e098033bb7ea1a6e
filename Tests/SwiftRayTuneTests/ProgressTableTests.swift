@testable import SwiftRayTune
import XCTest

/// The progress table's text (Ray's status table).
final class ProgressTableTests: XCTestCase {
    func testTheTableCountsStatesShowsTheBestAndPutsRunningTrialsFirst() {
        let configs = (0..<25).map { TrialConfig(["lr": .double(Double($0) / 100)]) }
        var states = Array(repeating: TrialState.pending, count: 25)
        var metrics = [Metrics?](repeating: nil, count: 25)
        states[0] = .terminated
        metrics[0] = ["loss": 0.5, "training_iteration": 10]
        states[3] = .error
        states[24] = .running
        metrics[24] = ["loss": 0.25, "training_iteration": 4]
        let text = ProgressTable.render(
            trialIDs: configs.indices.map { "trial_\($0)" }, states: states, configs: configs, metrics: metrics, metric: "loss", mode: .min,
            elapsed: .seconds(3))
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "== Status == 3.0 s")
        XCTAssertEqual(lines[1], "Trials: 25 (1 RUNNING, 1 TERMINATED, 22 PENDING, 1 ERROR)")
        XCTAssertEqual(lines[2], "Best: trial_24 loss=0.25 {lr: 0.24}")
        XCTAssertTrue(lines[4].hasPrefix("| Trial name | status     | config     | iter | loss |"), lines[4])
        XCTAssertTrue(lines[6].hasPrefix("| trial_24   | RUNNING    |"), "running trials first: \(lines[6])")
        XCTAssertTrue(lines[7].contains("TERMINATED") && lines[7].contains("| 10   | 0.5  |"), lines[7])
        XCTAssertTrue(text.contains("... 5 more"), "at most 20 rows")
    }
}
