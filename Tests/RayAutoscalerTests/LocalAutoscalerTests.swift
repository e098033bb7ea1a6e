import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Returns the node it ran on after `seconds`.
@Remote func occupy(_ seconds: Double) async throws -> String {
    try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
    return ray.runtimeContext.nodeID
}

/// Runs until the key `release` is in the KV store; returns its node.
@Remote func holdUntilReleased() async throws -> String {
    while try await ray.kv.get("release") == nil { try await Task.sleep(for: .milliseconds(50)) }
    return ray.runtimeContext.nodeID
}

/// The autoscaler end to end with the local provider (nodes as daemons on this machine): a 0-CPU
/// head given 8 one-CPU tasks brings up nodes (at most 4) within 10 s, and removes them after the
/// idle timeout, except the one still running a task.
final class LocalAutoscalerTests: XCTestCase {
    var cluster: TestCluster?
    var folder = ""

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        unsetenv("SWIFTRAY_TLS_CA_FILE")
        cluster?.shutdown()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A 0-CPU head autoscaling with `config` (YAML), and this driver connected to it.
    private func startCluster(_ config: String, tls: Bool = false) async throws -> TestCluster {
        folder = NSTemporaryDirectory() + "swiftray-autoscaler-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try config.write(toFile: "\(folder)/autoscaler.yaml", atomically: true, encoding: .utf8)
        let cluster = try TestCluster(cpus: 0, tls: tls, headArguments: ["--autoscaling-config", "\(folder)/autoscaler.yaml"])
        self.cluster = cluster
        if let certificate = cluster.tlsCertificateFile { setenv("SWIFTRAY_TLS_CA_FILE", certificate, 1) }
        try await Ray.start(address: cluster.address, token: cluster.token)
        return cluster
    }

    private func launchedNodes() async throws -> [String] {
        try await ray.nodes().filter { $0.alive && $0.total.keys.contains { $0.hasPrefix("autoscaler-node-") } }.map(\.nodeID)
    }

    func testDemandBringsNodesUpAndIdleOnesAreRemovedButNotABusyOne() async throws {
        let cluster = try await startCluster("""
            idleTimeoutSeconds: 2
            nodeTypes:
              - {name: cpu1, resources: {CPU: 1}, minWorkers: 0, maxWorkers: 4}
            """)

        let start = ContinuousClock.now
        let refs = (0..<8).map { _ in $occupy.remote(1.0) }
        let up = try await RayTesting.eventually(timeout: .seconds(10), every: .milliseconds(100)) { try await self.launchedNodes().count == 4 }
        XCTAssertTrue(up, "4 nodes within 10 s (\(ContinuousClock.now - start))")
        let launched = Set(try await launchedNodes())
        let ranOn = Set(try await ray.get(refs, timeout: .seconds(60)))
        XCTAssertTrue(ranOn.isSubset(of: launched), "the tasks ran on the launched nodes (the head has no CPU): \(ranOn)")
        let afterwards = try await launchedNodes().count
        XCTAssertLessThanOrEqual(afterwards, 4, "never more than maxWorkers")

        let held = $holdUntilReleased.remote()
        let busyNode = try await RayTesting.eventually(timeout: .seconds(10), every: .milliseconds(100)) {
            try await ray.state.tasks().contains { $0.name.contains("holdUntilReleased") && $0.state == .running }
        }
        XCTAssertTrue(busyNode)
        let shrunk = try await RayTesting.eventually(timeout: .seconds(20), every: .milliseconds(100)) { try await self.launchedNodes().count == 1 }
        let remaining = try await launchedNodes()
        XCTAssertTrue(shrunk, "the idle nodes were removed: \(remaining)")
        // The autoscaler's report follows the head's view of the removed nodes within a step or two.
        var status = ""
        let reported = try await RayTesting.eventually(timeout: .seconds(10), every: .milliseconds(100)) {
            status = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
            return status.contains("Autoscaler") && status.contains("Launched nodes: 1")
        }
        XCTAssertTrue(reported, status)

        _ = try await ray.kv.put("release", [1])
        let keptNode = try await held.get(timeout: .seconds(30))
        XCTAssertTrue(launched.contains(keptNode), "the busy node was kept through the idle timeout")
        let gone = try await RayTesting.eventually(timeout: .seconds(20), every: .milliseconds(100)) { try await self.launchedNodes().isEmpty }
        XCTAssertTrue(gone, "the last node went once idle")
    }

    /// A placement group is demand too: a STRICT_SPREAD group of two one-CPU bundles on a 0-CPU
    /// head waits (instead of being refused) and gets two new nodes, though one would hold both.
    func testAPlacementGroupWaitsForNodesLaunchedForItsBundles() async throws {
        _ = try await startCluster("""
            idleTimeoutSeconds: 60
            nodeTypes:
              - {name: cpu2, resources: {CPU: 2}, minWorkers: 0, maxWorkers: 3}
            """)
        let group = try await ray.placementGroup(bundles: [["CPU": 1], ["CPU": 1]], strategy: .strictSpread)
        try await group.ready(timeout: .seconds(30))
        let launched = try await launchedNodes()
        XCTAssertEqual(launched.count, 2, "one node per STRICT_SPREAD bundle")
        let nodes = try await ray.get((0..<2).map { index in
            $occupy.options(schedulingStrategy: .placementGroup(group, bundleIndex: index)).remote(0)
        }, timeout: .seconds(30))
        XCTAssertEqual(Set(nodes).count, 2, "the bundles are on different nodes")
        XCTAssertTrue(Set(nodes).isSubset(of: Set(launched)))
    }

    /// On a TLS cluster the launched nodes trust the head's certificate and join over TLS.
    func testNodesLaunchedForATLSHeadJoinIt() async throws {
        _ = try await startCluster("nodeTypes: [{name: cpu1, resources: {CPU: 1}, maxWorkers: 1}]", tls: true)
        let node = try await $occupy.remote(0).get(timeout: .seconds(30))
        let launched = try await launchedNodes()
        XCTAssertEqual(launched, [node], "the task ran on the node launched for it")
    }
}
