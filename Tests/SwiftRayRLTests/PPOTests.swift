import Foundation
import SwiftRay
import SwiftRayRL
import XCTest

/// PPO with real env-runner actors: the seed's builder, learning on CartPole, typed errors.
final class PPOTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testPPOLearnsCartPoleWithEnvRunnerActors() async throws {
        let algo = try await PPOConfig().environment("CartPole-v1").rollouts(numRolloutWorkers: 2)
            .envRunners(2, environmentsPerRunner: 2)
            .training(learningRate: 1e-3, numEpochs: 4, minibatchSize: 128, rolloutFragmentLength: 128)
            .evaluation(interval: 4, episodes: 4)
            .debugging(seed: 3).build()
        let actors = try await ray.state.actors()
        XCTAssertEqual(actors.filter { $0.className.contains("EnvRunner") }.count, 2, "one actor per env runner: \(actors.map(\.className))")
        var results: [RLResult] = []
        for _ in 0..<8 { results.append(try await algo.train()) }
        XCTAssertEqual(results.map(\.envSteps), Array(repeating: 512, count: 8), "2 runners x 2 copies x 128 steps")
        XCTAssertEqual(results.last?.envStepsLifetime, 8 * 512)
        XCTAssertGreaterThan(results.last?.episodesLifetime ?? 0, 0)
        let first = results[0].episodeReturnMean, last = results.last!.episodeReturnMean
        XCTAssertGreaterThan(last, 2 * first, "returns grow: \(results.map(\.episodeReturnMean))")
        XCTAssertEqual(results.last?.episodeRewardMean, last, "the seed's key")
        XCTAssertEqual(results.map { $0.evaluationReturnMean != nil }, [false, false, false, true, false, false, false, true],
                       "greedy evaluation every 4 iterations")
        XCTAssertGreaterThan(results[7].evaluationReturnMean ?? 0, 0)
        guard case .discrete(let action) = algo.computeAction([0, 0, 0.05, 0]) else { return XCTFail("a discrete action") }
        XCTAssertTrue((0..<2).contains(action))
        let path = NSTemporaryDirectory() + "ppo-curve-\(getpid()).svg"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try algo.writeCurve(to: path)
        let svg = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg"), svg)
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count, 2, "one curve")
        XCTAssertTrue(svg.contains("4096 steps"), "the x axis ends at the steps sampled")
        algo.stop()
    }

    func testGaussianPPOLearnsAContinuousActionOfAUserEnvironment() async throws {
        let algo = try await PPOConfig().environment(TargetAction.self).envRunners(2, environmentsPerRunner: 2)
            .training(learningRate: 3e-3, numEpochs: 4, minibatchSize: 64, rolloutFragmentLength: 64, hidden: [16])
            .normalization(observations: true).evaluation(interval: 10, episodes: 4).debugging(seed: 5).build()
        defer { algo.stop() }
        var results: [RLResult] = []
        for _ in 0..<10 { results.append(try await algo.train()) }
        XCTAssertLessThan(results[0].episodeReturnMean, -1, "a unit Gaussian around 0 misses 1 by about 1.4: \(results[0])")
        let evaluation = try XCTUnwrap(results.last?.evaluationReturnMean)
        XCTAssertGreaterThan(evaluation, -0.05, "the mean moved to the target: \(results.map(\.episodeReturnMean))")
        guard case .continuous(let action) = algo.computeAction([0]) else { return XCTFail("a continuous action") }
        XCTAssertEqual(Double(action[0]), 1, accuracy: 0.25)
        XCTAssertLessThan(algo.actionStd[0], 1, "exploration narrowed")
    }

    func testPendulumSamplesBoundedContinuousActions() async throws {
        let algo = try await PPOConfig.pendulum.envRunners(2, environmentsPerRunner: 1)
            .training(numEpochs: 1, rolloutFragmentLength: 200).debugging(seed: 1).build()
        defer { algo.stop() }
        let result = try await algo.train()
        XCTAssertEqual(result.episodes, 2, "200-step episodes, one per copy")
        XCTAssertLessThan(result.episodeReturnMean, -100, "an untrained pendulum hangs: \(result)")
        guard case .continuous(let action) = algo.computeAction([1, 0, 0]) else { return XCTFail("a continuous action") }
        XCTAssertTrue((-2...2).contains(action[0]), "clipped to the box")
    }

    func testUnknownEnvironmentsAreTypedErrors() async throws {
        do {
            _ = try await PPOConfig().environment("Nope-v0").build()
            XCTFail("an unknown environment was accepted")
        } catch let error as EnvironmentError {
            XCTAssertEqual(error, .unknown("Nope-v0"))
        }
        do {
            _ = try await DQNConfig().environment(Pendulum.self).build()
            XCTFail("DQN accepted a continuous action space")
        } catch let error as AlgorithmError {
            guard case .unsupportedActionSpace(algorithm: "DQN", _) = error else { return XCTFail("\(error)") }
        }
    }
}
