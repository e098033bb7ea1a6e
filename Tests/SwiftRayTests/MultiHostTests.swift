import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Three nodes on three "hosts": network namespaces joined by a bridge (root only; CI runs as root).
/// A workload spreads over them, one node's daemon is SIGKILLed mid-run, and every result must
/// still be right.
final class MultiHostTests: XCTestCase {
    var hosts: NamespaceCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        hosts?.stop()
    }

    func testWorkloadSurvivesANodeKilledMidRun() async throws {
        guard let hosts = try NamespaceCluster.start(nodeResources: [["one": 1], ["doomed": 1]]) else { throw XCTSkip("needs root and iproute2 (ip netns)") }
        self.hosts = hosts
        let (cluster, doomed) = (hosts.cluster, hosts.nodes[1])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let before = try await ray.get($whereAmI.options(resources: ["doomed": 1]).remote(), timeout: .seconds(60))
        XCTAssertTrue(before.hasPrefix("node-2-"), before)

        // A large object made on the doomed host is pulled across the bridge to host 1 (and cached there).
        let made = $makeNumbers.options(resources: ["doomed": 1]).remote(2_000_000, 1)
        let summed = try await ray.get($sumOnNode.options(resources: ["one": 1]).remote(made), timeout: .seconds(60))
        XCTAssertEqual(summed[1], String((0..<2_000_000).reduce(0.0) { $0 + Double($1) + 1 }))

        let refs = (0..<15).map { $slowSquareWithNode.remote($0, 1.0) }
        let busy = await RayTesting.eventually(timeout: .seconds(60)) {
            (try? cluster.run(["status", "--address", cluster.address, "--token", cluster.token]))?.contains("5.0/5.0 CPU") ?? false
        }
        XCTAssertTrue(busy, "the workload filled all three nodes")
        kill(doomed, SIGKILL)
        let results = try await ray.get(refs, timeout: .seconds(180))
        XCTAssertEqual(results.map { $0[1] }, (0..<15).map { String($0 * $0) })
        XCTAssertGreaterThanOrEqual(Set(results.map { $0[0] }).count, 2, "\(results)")
        let status = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(status.contains("Dead:\n node-2-"), status)
        // Its maker is dead, but host 1's cached copy still serves it.
        let values = try await ray.get(made, timeout: .seconds(60))
        XCTAssertEqual(values.count, 2_000_000)
        XCTAssertEqual(values.last, 2_000_000)
    }
}
