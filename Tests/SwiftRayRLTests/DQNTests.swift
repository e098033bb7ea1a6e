import Foundation
import SwiftRay
import SwiftRayRL
import XCTest

/// DQN with real env-runner actors: it learns a user environment's better action, explores on
/// its epsilon schedule, and reports RLlib's counters.
final class DQNTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testDQNLearnsTheRewardedActionFromItsReplayBuffer() async throws {
        let algo = try await DQNConfig().environment(RewardedChoice.self).envRunners(2)
            .training(learningRate: 3e-3, gamma: 0.9, trainBatchSize: 32, updatesPerIteration: 16, learningStarts: 100,
                      targetNetworkUpdateFrequency: 64, rolloutFragmentLength: 32, hidden: [16])
            .exploration(finalEpsilon: 0.05, timesteps: 400).evaluation(interval: 12, episodes: 4).debugging(seed: 2).build()
        defer { algo.stop() }
        let untrained = (0..<10).map { algo.computeAction([Float($0) / 10]) }
        XCTAssertTrue(untrained.contains(.discrete(0)), "this seed starts out wrong somewhere, so passing means learning")
        var results: [RLResult] = []
        for _ in 0..<12 { results.append(try await algo.train()) }
        XCTAssertEqual(results.map(\.envSteps), Array(repeating: 64, count: 12), "2 runners x 1 copy x 32 steps")
        XCTAssertEqual(results[0].episodeReturnMean, 5, accuracy: 2, "epsilon 1 at first: random choices")
        XCTAssertEqual(results.last?.evaluationReturnMean, 10, "the greedy policy always takes the rewarded action")
        XCTAssertGreaterThan(results.last!.episodeReturnMean, results[0].episodeReturnMean)
        XCTAssertEqual((0..<10).map { algo.computeAction([Float($0) / 10]) }, Array(repeating: .discrete(1), count: 10))
    }
}
