import Foundation
import RayTesting
import SwiftRay
import SwiftRayCollective
import XCTest

/// Members on two nodes (two daemons) link over TCP.
final class CollectiveClusterTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    func testMembersOnTwoNodesLinkOverTCP() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1)
        try await Ray.start(address: cluster.address, token: cluster.token)
        let nodes = try await ray.nodes().filter(\.alive).map(\.nodeID)
        XCTAssertEqual(nodes.count, 2)
        let (members, transports) = try await CollectiveTests.members(2, name: "spanning", chunkBytes: 8192) { rank in
            ActorOptions(schedulingStrategy: .nodeAffinity(nodeID: nodes[rank], soft: false))
        }
        XCTAssertEqual(transports, [["sealedTCP", "sealedTCP"], ["sealedTCP", "sealedTCP"]], "different nodes: sealed TCP")
        let inputs = (0..<2).map { CollectiveTests.buffer(rank: $0, count: 20_000) }
        let first = members[0].remote.allreduce(inputs[0], op: .max)
        let second = members[1].remote.allreduce(inputs[1], op: .max)
        let expected = (0..<20_000).map { max(inputs[0][$0], inputs[1][$0]) }
        let results = [try await first.get(timeout: .seconds(60)), try await second.get(timeout: .seconds(60))]
        XCTAssertEqual(results, [expected, expected])
    }
}
