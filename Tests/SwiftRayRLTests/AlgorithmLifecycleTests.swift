import Foundation
import SwiftRay
import SwiftRayRL
import SwiftRayTune
import XCTest

/// What surrounds training: a dead env runner replaced mid-run, checkpoints saved and restored
/// (with the return curve beside them), and algorithms as Tune trainables.
final class AlgorithmLifecycleTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    private var smallPPO: PPOConfig {
        PPOConfig().environment("CartPole-v1").envRunners(2, environmentsPerRunner: 2)
            .training(numEpochs: 2, minibatchSize: 128, rolloutFragmentLength: 64, hidden: [16]).debugging(seed: 4)
    }

    func testADeadEnvRunnerIsReplacedAndTrainingGoesOn() async throws {
        let algo = try await smallPPO.build()
        defer { algo.stop() }
        let first = try await algo.train()
        XCTAssertEqual(first.envSteps, 256)
        try algo.killEnvRunner(0)
        let hit = try await algo.train()
        XCTAssertEqual(hit.runnersReplaced, 1)
        XCTAssertEqual(hit.envSteps, 128, "the iteration went on with the living runner's samples")
        let after = try await algo.train()
        XCTAssertEqual(after.runnersReplaced, 0)
        XCTAssertEqual(after.envSteps, 256, "the replacement samples")
        let runners = try await ray.state.actors().filter { $0.className.contains("EnvRunner") && $0.state == .alive }
        XCTAssertEqual(runners.count, 2)
    }

    func testSaveAndRestoreContinueWhereTrainingStopped() async throws {
        let directory = NSTemporaryDirectory() + "ppo-checkpoint-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let algo = try await smallPPO.normalization(observations: true).build()
        for _ in 0..<3 { _ = try await algo.train() }
        let path = try algo.save(to: directory)
        algo.stop()
        XCTAssertTrue(path.hasSuffix("algorithm_state.json"))
        let svg = try String(contentsOfFile: directory + "/returns.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg"), "the return curve is written next to the checkpoint")

        let restored = try await smallPPO.normalization(observations: true).build()
        defer { restored.stop() }
        try restored.restore(from: directory)
        let probes: [[Float]] = [[0, 0, 0.05, 0], [0.1, -0.3, -0.04, 0.2], [-0.5, 0.6, 0.01, -0.9]]
        for probe in probes { XCTAssertEqual(restored.computeAction(probe), algo.computeAction(probe)) }
        let next = try await restored.train()
        XCTAssertEqual(next.iteration, 4, "iterations count on from the checkpoint")
        XCTAssertEqual(next.envStepsLifetime, 4 * 256)

        let other = try await PPOConfig().environment("Pendulum-v1").envRunners(1).build()
        defer { other.stop() }
        XCTAssertThrowsError(try other.restore(from: directory)) { error in
            guard case .incompatibleCheckpoint = error as? AlgorithmError else { return XCTFail("\(error)") }
        }
    }

    func testDQNStateRoundTrips() async throws {
        let directory = NSTemporaryDirectory() + "dqn-checkpoint-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = DQNConfig().environment("CartPole-v1").training(updatesPerIteration: 4, learningStarts: 0, rolloutFragmentLength: 16, hidden: [8])
        let algo = try await config.build()
        defer { algo.stop() }
        for _ in 0..<2 { _ = try await algo.train() }
        try algo.save(to: directory)
        let restored = try await config.debugging(seed: 9).build()
        defer { restored.stop() }
        try restored.restore(from: directory)
        XCTAssertEqual(restored.computeAction([0.1, 0.2, -0.1, 0.3]), algo.computeAction([0.1, 0.2, -0.1, 0.3]))
        let next = try await restored.train()
        XCTAssertEqual(next.iteration, 3)
    }

    func testAnAlgorithmIsATuneTrainable() async throws {
        let tuner = try Tuner(smallPPO, paramSpace: ["lr": .grid([1e-3, 3e-3])], checkpointEvery: 2, maxIterations: 2, numCPUs: 1)
        let grid = try await tuner.fit()
        XCTAssertEqual(grid.count, 2)
        for result in grid {
            XCTAssertNil(result.error)
            XCTAssertEqual(result.metrics?["training_iteration"], 2)
            XCTAssertEqual(result.metrics?["num_env_steps_sampled_lifetime"], 512)
            XCTAssertNotNil(result.metrics?["episode_return_mean"])
            XCTAssertNotNil(result.checkpoint, "saved every 2 iterations")
        }
        XCTAssertEqual(Set(grid.map { $0.config.value("lr")?.double ?? 0 }), [1e-3, 3e-3])
    }
}
