import Foundation
import RayChaos
import RayTesting
import SwiftRay
import XCTest

/// The chaos suite's node kill (issue 22, item 3): three nodes on three "hosts" (network
/// namespaces on a bridge; root only, as CI runs), one SIGKILLed half-way through a workload of
/// tasks and actor calls while its share of the work runs there.
final class NodeChaosTests: XCTestCase {
    var hosts: NamespaceCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        hosts?.stop()
    }

    /// Every task and retried call right (the actors start on the doomed node and restart
    /// elsewhere), at-most-once calls never run twice, the slow tasks that were running on the
    /// killed node run again elsewhere, and the node is reported dead.
    func testAWorkloadLosesNothingWhenANodeIsKilledMidRun() async throws {
        guard let hosts = try NamespaceCluster.start(nodeResources: [[:], [:]]) else { throw XCTSkip("needs root and iproute2 (ip netns)") }
        self.hosts = hosts
        let (cluster, doomed) = (hosts.cluster, hosts.nodes[1])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let folder = NSTemporaryDirectory() + "swiftray-node-chaos-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }

        // Not the head's id, "node-<pid>", whose pid may start with 2 too.
        let doomedID = try await ray.state.nodes().first { !$0.isHead && $0.nodeID.hasPrefix("node-2-") }?.nodeID
        let strike = NodeKill(daemon: doomed, nodeID: try XCTUnwrap(doomedID), folder: folder)
        let onDoomed = SchedulingStrategy.nodeAffinity(nodeID: try XCTUnwrap(doomedID), soft: true)
        let report = try await ChaosWorkload.run(
            tasks: 2_000, calls: 400, killEvery: nil, seed: 23, folder: folder, actorsAt: onDoomed, midway: strike.strike)
        print("node chaos: \(report)")
        XCTAssertTrue(report.clean, "\(report)")
        XCTAssertEqual(report.tasksRight, 2_000)
        XCTAssertEqual(report.retriedCallsRight, 200)
        XCTAssertEqual(report.duplicated, 0)
        let slowRight = try await strike.slowTasksRight()
        XCTAssertTrue(slowRight, "the slow tasks, one of them on the killed node, answer right")
        let actors = try await ray.state.actors().filter { $0.className.hasPrefix("Chaos") }
        XCTAssertEqual(actors.count, 2)
        for actor in actors { XCTAssertEqual(actor.restarts, 1, "\(actor.className) restarted once, off the killed node") }
        let status = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(status.contains("Dead:\n node-2-"), status)
    }
}
