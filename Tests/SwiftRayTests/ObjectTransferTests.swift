import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Large objects across nodes: each node has its own store; an object made on one node is pulled in
/// chunks to the node that needs it, cached there, freed everywhere once unreferenced, and rebuilt
/// from lineage (or reported lost) when its node dies.
final class ObjectTransferTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    /// A head (1 CPU) and two nodes, `a` and `b`; returns the nodes' ids and daemon pids.
    private func startCluster() async throws -> (a: String, b: String, aPID: Int32, bPID: Int32) {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let aPID = try cluster.addNode(cpus: 1, resources: ["a": 1])
        let bPID = try cluster.addNode(cpus: 1, resources: ["b": 1])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let a = try await ray.get($whereAmI.options(resources: ["a": 1]).remote(), timeout: .seconds(60))
        let b = try await ray.get($whereAmI.options(resources: ["b": 1]).remote(), timeout: .seconds(60))
        return (a, b, aPID, bPID)
    }

    private func storeFile(daemon pid: Int32, _ id: String) -> String { "/dev/shm/swiftray-node-\(pid)/\(id)" }

    private func object(_ id: String) async throws -> ObjectState? {
        try await ray.state.objects().first { $0.objectID == id }
    }

    func testObjectMadeOnOneNodeIsPulledToAnotherCachedAndFreed() async throws {
        let (a, b, aPID, bPID) = try await startCluster()
        let count = 3_000_000  // 24 MB: several chunks
        // Once unreferenced (the scope ends) it is freed on every node.
        let id = try await { () async throws -> String in
            let made = $makeNumbers.options(resources: ["a": 1]).remote(count, 0.5)
            var sum = 0.0
            for index in 0..<count { sum += 0.5 + Double(index) }
            let expected = String(sum)
            let first = try await ray.get($sumOnNode.options(resources: ["b": 1]).remote(made), timeout: .seconds(60))
            XCTAssertEqual(first, [b, expected], "the task on b received the object made on a")
            let second = try await ray.get($sumOnNode.options(resources: ["b": 1]).remote(made), timeout: .seconds(60))
            XCTAssertEqual(second, [b, expected])
            let state = try await object("\(made.id)")
            XCTAssertEqual(state?.location, "remote", "only the nodes' stores hold it")
            XCTAssertEqual(state?.nodes, [a, b], "made on a, cached on b once")
            XCTAssertTrue(FileManager.default.fileExists(atPath: storeFile(daemon: aPID, "\(made.id)")))
            let counted = try await ray.state.nodes().first { $0.nodeID == b }
            XCTAssertEqual(counted?.storedObjects, 1, "b's store counts its cached copy")
            XCTAssertTrue((24_000_000..<24_000_100).contains(counted?.storedBytes ?? 0), "\(String(describing: counted))")
            XCTAssertTrue(FileManager.default.fileExists(atPath: storeFile(daemon: bPID, "\(made.id)")))

            // The driver (over the network) gets it through the head, which pulls a copy too.
            let values = try await ray.get(made, timeout: .seconds(60))
            XCTAssertEqual(values.count, count)
            XCTAssertEqual(values[count - 1], Double(count - 1) + 0.5)
            let copies = try await object("\(made.id)")
            XCTAssertEqual(copies?.nodes.count, 3, "a, b and the head hold copies: \(String(describing: copies))")
            return "\(made.id)"
        }()
        // A large put of this driver goes into the head's store and is pulled from there.
        let values = (0..<300_000).map(Double.init)
        let put = try ray.put(values)
        let summed = try await ray.get($sumOnNode.options(resources: ["b": 1]).remote(put), timeout: .seconds(60))
        XCTAssertEqual(summed, [b, String(values.reduce(0, +))])
        let head = try await ray.state.nodes().first { $0.isHead }?.nodeID
        let stored = try await object("\(put.id)")
        XCTAssertEqual(stored?.location, "shared-memory")
        XCTAssertEqual(stored?.nodes, [try XCTUnwrap(head), b])

        let freed = await RayTesting.eventually(timeout: .seconds(20)) {
            !FileManager.default.fileExists(atPath: self.storeFile(daemon: aPID, id))
                && !FileManager.default.fileExists(atPath: self.storeFile(daemon: bPID, id))
        }
        XCTAssertTrue(freed, "the copies on a and b were removed")
        let gone = try await object(id)
        XCTAssertNil(gone)

        // Stopped daemons take their stores with them.
        let cluster = try XCTUnwrap(self.cluster)
        let headPID = try cluster.daemonPID(cluster.folders[0])
        try await ray.shutdown()
        cluster.shutdown()
        for pid in [headPID, aPID, bPID] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: "/dev/shm/swiftray-node-\(pid)"), "store of daemon \(pid) removed")
        }
    }

    func testObjectsOfADeadNodeAreRebuiltFromLineageOrLost() async throws {
        let (a, _, aPID, _) = try await startCluster()
        let count = 500_000
        // Made on a (soft affinity: it may run again elsewhere), never copied anywhere else.
        let made = $makeNumbers.options(schedulingStrategy: .nodeAffinity(nodeID: a, soft: true)).remote(count, 2)
        let ready = try await ray.wait([made], numReturns: 1, timeout: .seconds(60))
        XCTAssertEqual(ready.ready.count, 1)
        let put = try await ray.get($putNumbersHere.options(resources: ["a": 1]).remote(count), timeout: .seconds(60))[0]
        let before = try await object("\(made.id)")
        XCTAssertEqual(before?.nodes, [a])

        kill(aPID, SIGKILL)
        // A SIGKILLed daemon leaves its store; the next daemon on this machine would sweep it.
        defer { try? FileManager.default.removeItem(atPath: "/dev/shm/swiftray-node-\(aPID)") }
        let values = try await ray.get(made, timeout: .seconds(60))
        XCTAssertEqual(values.count, count, "rebuilt by running its task again")
        XCTAssertEqual(values[10], 12)
        let runs = try await ray.state.tasks().filter { $0.name.contains("makeNumbers") }
        XCTAssertEqual(runs.map(\.attempt).max(), 1, "the second run is attempt 1: \(runs)")

        do {
            _ = try await ray.get(put, timeout: .seconds(60))
            XCTFail("an object put on the dead node cannot be rebuilt")
        } catch let error as ObjectLostError {
            XCTAssertTrue(error.message.contains("lost with node \(a)"), error.message)
        }
    }
}

/// A cluster whose links use TLS (`start --head --tls`): nodes trust the generated certificate,
/// drivers need it too, and plain connections are refused.
final class TLSClusterTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        unsetenv("SWIFTRAY_TLS_CA_FILE")
        cluster?.shutdown()
    }

    func testEveryLinkUsesTLS() async throws {
        let cluster = try TestCluster(cpus: 1, tls: true)
        self.cluster = cluster
        let certificate = try XCTUnwrap(cluster.tlsCertificateFile)
        let key = certificate.replacingOccurrences(of: "tls_cert.pem", with: "tls_key.pem")
        let keyMode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
        XCTAssertEqual(keyMode, 0o600, "the private key is readable by its owner only")
        try cluster.addNode(cpus: 1, resources: ["b": 1])

        // A plain connection is refused, and the head keeps serving.
        do {
            try await Ray.start(address: cluster.address, token: cluster.token)
            XCTFail("a plain connection to a TLS head must be refused")
        } catch let error as RaySystemError {
            XCTAssertTrue(error.message.contains("closed"), error.message)
        }

        setenv("SWIFTRAY_TLS_CA_FILE", certificate, 1)
        try await Ray.start(address: cluster.address, token: cluster.token)
        let node = try await ray.get($whereAmI.options(resources: ["b": 1]).remote(), timeout: .seconds(60))
        XCTAssertTrue(node.hasPrefix("node-1"), node)
        // A large object crosses both object servers' TLS links: node b -> head -> this driver.
        let made = $makeNumbers.options(resources: ["b": 1]).remote(1_000_000, 3)
        let values = try await ray.get(made, timeout: .seconds(60))
        XCTAssertEqual(values.count, 1_000_000)
        XCTAssertEqual(values[999_999], 1_000_002)
        let sum = try await ray.get($sumOnNode.options(resources: ["b": 1]).remote(try ray.put(values)), timeout: .seconds(60))
        XCTAssertEqual(sum, [node, String(values.reduce(0, +))])
        let status = try cluster.run(
            ["status", "--address", cluster.address, "--token", cluster.token], environment: ["SWIFTRAY_TLS_CA_FILE": certificate])
        XCTAssertTrue(status.contains(node), status)
    }
}
