import Foundation
import RayTesting
import SwiftRay
import XCTest

/// A worker node's store over its capacity spills to disk like the head's, and every value is
/// still served: pulled to the driver and read by tasks on the node.
final class NodeSpillingTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    func testAWorkerNodesStoreSpillsAndServesEveryValue() async throws {
        let capacity = 4 << 20
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let pid = try cluster.addNode(cpus: 2, resources: ["spill": 1], arguments: ["--object-store-memory", "\(capacity)"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let onNode = $patternedArray.options(resources: ["spill": 0.1])
        // 12 results of 1 MiB made on the node: three times what its store keeps in memory.
        let refs = (0..<12).map { onNode.remote(131_072, $0) }
        let ready = try await ray.wait(refs, numReturns: refs.count, timeout: .seconds(60))
        XCTAssertEqual(ready.ready.count, refs.count)

        let store = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/swiftray-node-\(pid)" : NSTemporaryDirectory() + "swiftray-node-\(pid)"
        let spill = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/swiftray-spill-node-\(pid)"
        let fits = await RayTesting.eventually(timeout: .seconds(20)) {
            Self.bytes(in: store) <= capacity && !Self.files(in: spill).isEmpty
        }
        XCTAssertTrue(fits, "store \(Self.bytes(in: store)) bytes (capacity \(capacity)), spilled \(Self.files(in: spill).count)")

        let expected = (0..<12).map { seed in (0..<131_072).map { Double($0 &* 31 &+ seed) } }
        let values = try await ray.get(refs, timeout: .seconds(60))
        XCTAssertEqual(values, expected, "pulled to the driver, spilled ones read from the node's disk")
        let sums = try await ray.get(refs.map { $sumOnNode.options(resources: ["spill": 0.1]).remote($0) }, timeout: .seconds(60))
        XCTAssertEqual(sums.map { $0[1] }, expected.map { String($0.reduce(0, +)) }, "read by tasks on the node")
    }

    static func files(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") && !$0.hasSuffix(".tmp") }
    }

    /// Bytes of the sealed objects and recycled files in a store folder.
    static func bytes(in folder: String) -> Int {
        files(in: folder).reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: "\(folder)/\(name)")[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
