import Foundation
import RayChaos
import RayTesting
import SwiftRay
import XCTest

/// Squares `x` after `millis` of work.
@Remote func linkSquare(_ x: Int, _ millis: Int) async throws -> Int {
    try await Task.sleep(for: .milliseconds(millis))  // the task's work, not synchronisation
    return x * x
}

/// The chaos suite's link faults (issue 22, item 3) through `FaultyLink`, a relay in user space
/// (this machine's kernel has no netem): a worker node whose every connection to the head is
/// delayed, then cut mid-workload.
final class LinkFaultTests: XCTestCase {
    var cluster: TestCluster?
    var link: FaultyLink?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
        await link?.close()
    }

    /// The relay carries a whole HTTP exchange (to a dashboard), delayed, and cutting it closes it.
    func testTheLinkRelaysAndCuts() async throws {
        try await Ray.start(numCPUs: 1, dashboardPort: 0)
        let port = try XCTUnwrap(URL(string: try XCTUnwrap(ray.dashboardURL))?.port)
        let link = try await FaultyLink(to: "127.0.0.1", port: port, delay: .milliseconds(30))
        self.link = link
        guard let connection = RawConnection(port: UInt16(link.port)) else { return XCTFail("cannot connect to the link") }
        let started = ContinuousClock.now
        XCTAssertTrue(connection.send(Array("GET /api/gcs_healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        let answer = String(decoding: connection.read(upTo: 12, within: .seconds(10)), as: UTF8.self)
        XCTAssertEqual(answer, "HTTP/1.1 200")
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(60), "held 30 ms each way")
        XCTAssertEqual(link.connections, 1)
        XCTAssertEqual(link.cutAll(), 1)
        XCTAssertTrue(connection.closedByPeer(within: .seconds(5)))
    }

    /// 20 ms each way on the node's links, all of them cut twice while 200 tasks that only that
    /// node can run are in flight: every result right, and the node back in the cluster.
    func testASlowLinkCutTwiceMidWorkloadLosesNoResult() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let headPort = try XCTUnwrap(cluster.address.split(separator: ":").last.flatMap { Int($0) })
        let link = try await FaultyLink(to: "127.0.0.1", port: headPort, delay: .milliseconds(20))
        self.link = link
        try cluster.addNode(cpus: 2, resources: ["far": 1], headAddress: "127.0.0.1:\(link.port)")
        try await Ray.start(address: cluster.address, token: cluster.token)
        let far = $linkSquare.options(resources: ["far": 0.01])
        let refs = (0..<200).map { far.remote($0, 5) }
        var cuts = 0
        for mark in [30, 110] {
            _ = try await ray.get(refs[mark], timeout: .seconds(120))
            cuts += link.cutAll()
        }
        XCTAssertGreaterThan(cuts, 0, "connections were cut mid-workload")
        let results = try await ray.get(refs, timeout: .seconds(180))
        XCTAssertEqual(results, (0..<200).map { $0 * $0 })
        let back = try await RayTesting.eventually(timeout: .seconds(30)) {
            try await ray.state.nodes().contains { $0.alive && $0.total["far"] != nil }
        }
        XCTAssertTrue(back, "the node rejoined through the link")
        let after = try await ray.get(far.remote(12, 0), timeout: .seconds(60))
        XCTAssertEqual(after, 144)
    }
}
