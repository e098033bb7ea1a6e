import Foundation
import RayTesting
import SwiftRay
import SwiftRayRL
import XCTest

/// Env runners on another node (two daemons): placed by a custom resource, sampling there, the
/// learner in the driver.
final class RLClusterTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    func testEnvRunnersSampleOnTheNodeWithTheirResource() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["rollout": 2])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let nodes = try await ray.nodes().filter(\.alive)
        let rolloutNode = try XCTUnwrap(nodes.first { ($0.total["rollout"] ?? 0) > 0 }?.nodeID)
        let algo = try await PPOConfig().environment("CartPole-v1")
            .envRunners(2, environmentsPerRunner: 2, customResourcesPerEnvRunner: ["rollout": 1])
            .training(numEpochs: 1, rolloutFragmentLength: 32, hidden: [8]).build()
        defer { algo.stop() }
        let first = try await algo.train(), second = try await algo.train()
        let runners = try await ray.state.actors().filter { $0.className.contains("EnvRunner") && $0.state == .alive }
        XCTAssertEqual(runners.map(\.nodeID), [rolloutNode, rolloutNode], "both runners on the node with the resource")
        XCTAssertEqual([first.envSteps, second.envSteps], [128, 128])
        XCTAssertEqual(second.envStepsLifetime, 256)
    }
}
