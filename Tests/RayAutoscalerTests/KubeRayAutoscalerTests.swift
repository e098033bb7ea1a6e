import Foundation
@testable import RayAutoscaler
import RayTesting
import SwiftRay
import Synchronization
import XCTest

/// The KubeRay provider over real HTTP against `FakeKubernetes`, and the `swiftray autoscaler`
/// sidecar end to end: a real head, the fake API server, and a fake operator that turns the
/// RayCluster's replicas into real node daemons ("pods") started with KubeRay's variables.
final class KubeRayAutoscalerTests: XCTestCase {
    var fake: FakeKubernetes?
    var cluster: TestCluster?
    var autoscaler: Process?
    var folder = ""
    let operatorQueue = DispatchQueue(label: "fake-operator")

    override func tearDown() async throws {
        if let autoscaler, autoscaler.isRunning {
            autoscaler.terminate()
            autoscaler.waitUntilExit()
        }
        if Ray.isInitialized { try? await ray.shutdown() }
        fake?.stop()
        operatorQueue.sync {}  // no pod is being started while the cluster stops
        cluster?.shutdown()
        if !folder.isEmpty { try? FileManager.default.removeItem(atPath: folder) }
    }

    static func rayCluster(maxReplicas: Int = 3, idleTimeout: Int = 2) -> RayClusterObject {
        let group = RayClusterObject.WorkerGroup(
            groupName: "cpu-group", replicas: 0, minReplicas: 0, maxReplicas: maxReplicas, suspend: nil,
            rayStartParams: ["num-cpus": "1"], scaleStrategy: nil, template: nil)
        return RayClusterObject(
            metadata: .init(name: "swiftray", resourceVersion: nil),
            spec: .init(enableInTreeAutoscaling: true, autoscalerOptions: .init(idleTimeoutSeconds: idleTimeout), workerGroupSpecs: [group]))
    }

    private func provider(_ fake: FakeKubernetes, token: String? = nil) throws -> KubeRayNodeProvider {
        try KubeRayNodeProvider(endpoint: .init(baseURL: fake.baseURL, namespace: fake.namespace, clusterName: fake.clusterName, token: token ?? fake.token))
    }

    /// Worker groups read as KubeRay's autoscaler reads them: `rayStartParams` first, else the
    /// container's limits (then requests), quantities in Kubernetes units.
    func testWorkerGroupsBecomeNodeTypes() throws {
        let json = #"""
            {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "c", "resourceVersion": "17"},
             "spec": {"autoscalerOptions": {"idleTimeoutSeconds": 30, "upscalingMode": "Default"},
              "headGroupSpec": {"rayStartParams": {}},
              "workerGroupSpecs": [
                {"groupName": "small-group", "replicas": 1, "minReplicas": 1, "maxReplicas": 5,
                 "rayStartParams": {"resources": "'\"{\\\"Custom\\\": 2}\"'"},
                 "template": {"spec": {"containers": [{"name": "ray-worker", "image": "x",
                   "resources": {"limits": {"cpu": "1500m", "memory": "2Gi", "nvidia.com/gpu": "1"}, "requests": {"cpu": "1"}}}]}}},
                {"groupName": "params", "minReplicas": 0, "maxReplicas": 2,
                 "rayStartParams": {"num-cpus": "4", "num-gpus": "0", "memory": "1000000"},
                 "template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "8"}}}]}}}]}}
            """#
        let cluster = try JSONDecoder().decode(RayClusterObject.self, from: Data(json.utf8))
        let config = cluster.autoscalerConfig
        XCTAssertEqual(config.idleTimeoutSeconds, 30)
        XCTAssertEqual(config.nodeTypes.map(\.name), ["small-group", "params"])
        XCTAssertEqual(config.nodeTypes[0].resources, ["CPU": 2, "GPU": 1, "memory": 2_147_483_648, "Custom": 2])
        XCTAssertEqual(config.nodeTypes[0].minWorkers, 1)
        XCTAssertEqual(config.nodeTypes[0].maxWorkers, 5)
        XCTAssertEqual(config.nodeTypes[1].resources, ["CPU": 4, "memory": 1_000_000])
        XCTAssertEqual(cluster.metadata.resourceVersion, "17")
        XCTAssertEqual(KubernetesQuantity.value("250m"), 0.25)
        XCTAssertEqual(KubernetesQuantity.value("1.5Gi"), 1.5 * 1_073_741_824)
        XCTAssertEqual(KubernetesQuantity.value("129e6"), 129e6)
        XCTAssertEqual(KubernetesQuantity.value("128M"), 128e6)
        XCTAssertNil(KubernetesQuantity.value("lots"))
    }

    func testLaunchAndRemovePatchTheGroupAndRetryOnConflicts() async throws {
        let fake = try await FakeKubernetes.start(cluster: Self.rayCluster())
        self.fake = fake
        let provider = try provider(fake)
        defer { Task { await provider.shutdown() } }
        fake.state.withLock { $0.conflictsToInject = 3 }
        let type = try await provider.rayCluster().autoscalerConfig.nodeTypes[0]
        XCTAssertEqual(type.resources, ["CPU": 1])
        try await provider.launch(type, count: 2)
        try await provider.launch(type, count: 5)  // capped at maxReplicas
        var state = fake.state.withLock { $0 }
        XCTAssertEqual(state.conflictsServed, 3, "each stale patch was refused and recomputed")
        XCTAssertEqual(state.cluster.spec.workerGroupSpecs?[0].replicas, 3)
        XCTAssertEqual(state.patches.first?.first, .init(op: "replace", path: "/metadata/resourceVersion"), "every patch carries its resource version")

        let pending = try await provider.nodes()
        XCTAssertEqual(pending, Array(repeating: ProviderNode(type: "cpu-group", marker: nil), count: 3), "replicas without pods are pending")
        fake.state.withLock { $0.pods = ["swiftray-cpu-group-worker-a1": "cpu-group", "swiftray-cpu-group-worker-b2": "cpu-group"] }
        let nodes = try await provider.nodes()
        XCTAssertEqual(nodes.compactMap(\.marker).sorted(), ["autoscaler-node-cpu-group-swiftray-cpu-group-worker-a1", "autoscaler-node-cpu-group-swiftray-cpu-group-worker-b2"])
        XCTAssertEqual(nodes.filter { $0.marker == nil }.count, 1)

        try await provider.terminate(markers: ["autoscaler-node-cpu-group-swiftray-cpu-group-worker-a1"])
        state = fake.state.withLock { $0 }
        XCTAssertEqual(state.cluster.spec.workerGroupSpecs?[0].replicas, 2)
        XCTAssertEqual(state.cluster.spec.workerGroupSpecs?[0].scaleStrategy?.workersToDelete, ["swiftray-cpu-group-worker-a1"])
        let afterRemoval = try await provider.nodes()
        XCTAssertFalse(afterRemoval.contains { $0.marker?.hasSuffix("a1") == true }, "a pod being deleted is no longer a node")

        fake.state.withLock { $0.pods["swiftray-cpu-group-worker-a1"] = nil }  // the operator deleted it
        _ = try await provider.nodes()
        XCTAssertEqual(fake.state.withLock { $0.cluster.spec.workerGroupSpecs?[0].scaleStrategy?.workersToDelete }, [], "deleted pods leave workersToDelete")
    }

    func testRefusalsAreTypedErrors() async throws {
        let fake = try await FakeKubernetes.start(cluster: Self.rayCluster())
        self.fake = fake
        let wrongToken = try provider(fake, token: "wrong")
        do {
            _ = try await wrongToken.nodes()
            XCTFail("a wrong token must be refused")
        } catch let error as KubernetesAPIError {
            XCTAssertEqual(error.status, 401)
        }
        await wrongToken.shutdown()
        let missing = try KubeRayNodeProvider(endpoint: .init(baseURL: fake.baseURL, namespace: fake.namespace, clusterName: "other", token: fake.token))
        do {
            _ = try await missing.rayCluster()
            XCTFail("a missing RayCluster must be an error")
        } catch let error as KubernetesAPIError {
            XCTAssertEqual(error.status, 404)
            XCTAssertTrue(error.message.contains("not found"), error.message)
        }
        do {
            try await provider(fake).launch(.init(name: "no-such-group", resources: ["CPU": 1], maxWorkers: 1), count: 1)
            XCTFail("an unknown group must be an error")
        } catch let error as ProviderError {
            XCTAssertTrue(error.message.contains("no-such-group"), error.message)
        }
        fake.state.withLock { $0.conflictsToInject = 100 }
        do {
            try await provider(fake).launch(Self.rayCluster().autoscalerConfig.nodeTypes[0], count: 1)
            XCTFail("endless conflicts must end in an error")
        } catch let error as KubernetesAPIError {
            XCTAssertEqual(error.status, 409)
        }
        let closed = try KubeRayNodeProvider(endpoint: .init(baseURL: "http://127.0.0.1:1", namespace: "ml", clusterName: "x"))
        do {
            _ = try await closed.nodes()
            XCTFail("an unreachable API must be an error")
        } catch {}
        await missing.shutdown()
        await closed.shutdown()
    }

    /// The sidecar end to end: 4 one-CPU tasks on a 0-CPU head bring the group to its 3
    /// replicas (the fake operator starts a node per pod); once idle they are removed, except the
    /// one still running a task, named in `workersToDelete`.
    func testSidecarScalesARayClusterWithDemand() async throws {
        folder = NSTemporaryDirectory() + "swiftray-kuberay-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let cluster = try TestCluster(cpus: 0)
        self.cluster = cluster
        let pods = PodFolders()
        let operatorQueue = self.operatorQueue
        let fake = try await FakeKubernetes.start(cluster: Self.rayCluster()) { fake in
            operatorQueue.async { Self.reconcile(fake, cluster: cluster, pods: pods) }
        }
        self.fake = fake
        fake.state.withLock { $0.conflictsToInject = 2 }
        let tokenFile = "\(folder)/k8s-token"
        try fake.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        autoscaler = try startSidecar(fake, cluster: cluster, tokenFile: tokenFile)
        // Work is submitted once the sidecar has told the head its node types (before that, a
        // one-CPU task on a 0-CPU head is infeasible).
        let connected = try await RayTesting.eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            try cluster.run(["status", "--address", cluster.address, "--token", cluster.token]).contains("Pending launches")
        }
        XCTAssertTrue(connected, "the sidecar reports to the head")
        try await Ray.start(address: cluster.address, token: cluster.token)

        let refs = (0..<4).map { _ in $occupy.remote(1.0) }
        let up = try await RayTesting.eventually(timeout: .seconds(20), every: .milliseconds(100)) { try await self.podNodes().count == 3 }
        XCTAssertTrue(up, "3 pods joined as nodes")
        let ranOn = Set(try await ray.get(refs, timeout: .seconds(60)))
        let joined = Set(try await podNodes())
        XCTAssertTrue(ranOn.isSubset(of: joined), "the tasks ran on the pods' nodes")
        XCTAssertEqual(fake.state.withLock { $0.highestReplicas }, 3, "never more than maxReplicas")
        XCTAssertGreaterThanOrEqual(fake.state.withLock { $0.conflictsServed }, 2, "conflicting writes were recomputed")

        let held = $holdUntilReleased.remote()
        let busy = try await RayTesting.eventually(timeout: .seconds(10), every: .milliseconds(100)) {
            try await ray.state.tasks().contains { $0.name.contains("holdUntilReleased") && $0.state == .running }
        }
        XCTAssertTrue(busy)
        let shrunk = await RayTesting.eventually(timeout: .seconds(20), every: .milliseconds(200)) {
            fake.state.withLock { $0.cluster.spec.workerGroupSpecs?[0].replicas } == 1
        }
        XCTAssertTrue(shrunk, "idle pods removed down to the busy one")
        let deleted = fake.state.withLock { $0.patches.flatMap { $0 }.filter { $0.path.hasSuffix("scaleStrategy") }.count }
        XCTAssertGreaterThan(deleted, 0, "removal names the pods in workersToDelete")
        let podsBeforeRelease = Set(try await podNodes())
        _ = try await ray.kv.put("release", [1])
        let busyNode = try await held.get(timeout: .seconds(30))
        XCTAssertTrue(podsBeforeRelease.contains(busyNode), "the busy pod was kept through the idle timeout")
        let gone = await RayTesting.eventually(timeout: .seconds(20), every: .milliseconds(200)) {
            fake.state.withLock { $0.cluster.spec.workerGroupSpecs?[0].replicas } == 0
        }
        XCTAssertTrue(gone, "the last pod removed once idle")
        let status = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(status.contains("Pending launches"), status)
    }

    private func podNodes() async throws -> [String] {
        try await ray.nodes().filter { $0.alive && $0.total.keys.contains { $0.hasPrefix("autoscaler-node-cpu-group-") } }.map(\.nodeID)
    }

    private func startSidecar(_ fake: FakeKubernetes, cluster: TestCluster, tokenFile: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cluster.command)
        process.arguments = [
            "autoscaler", "--cluster-name", fake.clusterName, "--cluster-namespace", fake.namespace,
            "--kubernetes-api", fake.baseURL, "--kubernetes-token-file", tokenFile,
            "--address", cluster.address, "--token", cluster.token, "--interval", "0.25",
        ]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }

    /// The operator's reconcile loop, simplified: pods named in `workersToDelete` go first, then
    /// pods are added (a node daemon with KubeRay's variables) or removed to match `replicas`.
    private static func reconcile(_ fake: FakeKubernetes, cluster: TestCluster, pods: PodFolders) {
        let group = fake.state.withLock { $0.cluster.spec.workerGroupSpecs?[0] }
        guard let group else { return }
        var current = pods.folders.withLock { $0 }
        for name in group.scaleStrategy?.workersToDelete ?? [] {
            guard let folder = current.removeValue(forKey: name) else { continue }
            cluster.stopNode(folder)
        }
        while current.count > (group.replicas ?? 0), let (name, folder) = current.first {
            current[name] = nil
            cluster.stopNode(folder)
        }
        while current.count < (group.replicas ?? 0) {
            let name = "\(fake.clusterName)-\(group.groupName)-worker-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
            let environment = ["RAY_CLOUD_INSTANCE_ID": name, "RAY_NODE_TYPE_NAME": group.groupName]
            guard (try? cluster.addNode(cpus: 1, environment: environment)) != nil, let folder = cluster.folders.last else { break }
            current[name] = folder
        }
        pods.folders.withLock { $0 = current }
        fake.state.withLock { $0.pods = current.mapValues { _ in group.groupName } }
    }
}

/// The fake operator's pods: name -> the node's files folder.
final class PodFolders: Sendable {
    let folders = Mutex<[String: String]>([:])
}
