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

    func testUnknownAndContinuousEnvironmentsAreTypedErrors() async throws {
        do {
            _ = try await PPOConfig().environment("Nope-v0").build()
            XCTFail("an unknown environment was accepted")
        } catch let error as EnvironmentError {
            XCTAssertEqual(error, .unknown("Nope-v0"))
        }
        do {
            _ = try await PPOConfig().environment(Pendulum.self).build()
            XCTFail("a continuous action space is not handled yet")
        } catch is PPOError {}
    }
}
