import Foundation
import RayTesting
import SwiftRay
import SwiftRayServe
import XCTest

/// Serve on a cluster of daemons: a proxy on every node, each routing to the replicas.
final class ServeClusterTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        await Serve.shutdown()
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    func testEveryNodeGetsAProxyThatRoutesToTheReplicas() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1)
        try await Ray.start(address: cluster.address, token: cluster.token)
        try await Serve.start(port: 0)
        try await Serve.run(Scaler.bind(DeploymentConfig(numReplicas: 2)) { try await Scaler.create(factor: 4, options: $0) },
                            name: "scale", routePrefix: "/scale")
        let own = ray.runtimeContext.nodeID
        let published = await RayTesting.eventually(timeout: .seconds(60)) {
            (try? await ray.state.serve().first?.nodeProxies.count) == 1
        }
        XCTAssertTrue(published, "the other node got a proxy")
        let proxies = try await ray.state.serve().first?.nodeProxies ?? [:]
        let (node, url) = try XCTUnwrap(proxies.first)
        XCTAssertNotEqual(node, own, "on the other node")
        let proxyActors = try await ray.state.actors().filter { $0.className == "ServeNodeProxy" }
        XCTAssertEqual(proxyActors.count, 1, "one proxy per node, never a second: \(proxyActors)")
        for x in 1...6 {
            let answer = try await ServeTests.send(url + "/scale", body: #"{"x": \#(x)}"#)
            XCTAssertEqual(answer.status, 200, answer.body)
            XCTAssertEqual(try JSONDecoder().decode(Scaled.self, from: Data(answer.body.utf8)).result, Double(x) * 4)
        }
        try await Serve.run(Scaler.bind { try await Scaler.create(factor: 5, options: $0) }, name: "five", routePrefix: "/five")
        let routed = await RayTesting.eventually(timeout: .seconds(30)) {
            (try? await ServeTests.send(url + "/five", body: #"{"x": 1}"#).status) == 200
        }
        XCTAssertTrue(routed, "a new application reaches the node's proxy")
        try await Serve.delete("scale")
        let unrouted = await RayTesting.eventually(timeout: .seconds(30)) {
            (try? await ServeTests.send(url + "/scale", body: #"{"x": 1}"#).status) == 404
        }
        XCTAssertTrue(unrouted, "a deleted application leaves the node's proxy")
        await Serve.shutdown()
        let stopped = await RayTesting.eventually(timeout: .seconds(30)) {
            (try? await ServeTests.send(url + "/five", body: #"{"x": 1}"#)) == nil
        }
        XCTAssertTrue(stopped, "shutdown stops the node's proxy")
    }
}
