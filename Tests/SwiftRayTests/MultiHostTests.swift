import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Three nodes on three "hosts": network namespaces joined by a bridge (root only; CI runs as root).
/// A workload spreads over them, one node's daemon is SIGKILLed mid-run, and every result must
/// still be right.
final class MultiHostTests: XCTestCase {
    var cluster: TestCluster?
    var network: NamespaceNetwork?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
        network?.remove()
    }

    func testWorkloadSurvivesANodeKilledMidRun() async throws {
        guard getuid() == 0, let ip = NamespaceNetwork.ipCommand else { throw XCTSkip("needs root and iproute2 (ip netns)") }
        let network = try NamespaceNetwork(ip: ip, hosts: 3)
        self.network = network
        let cluster = try TestCluster(cpus: 1, host: network.address(of: 0), wrapper: network.exec(0))
        self.cluster = cluster
        try cluster.addNode(cpus: 2, resources: ["one": 1], wrapper: network.exec(1))
        let doomed = try cluster.addNode(cpus: 2, resources: ["doomed": 1], wrapper: network.exec(2))
        try await Ray.start(address: cluster.address, token: cluster.token)
        let before = try await ray.get($whereAmI.options(resources: ["doomed": 1]).remote(), timeout: .seconds(60))
        XCTAssertTrue(before.hasPrefix("node-2"), before)

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
        XCTAssertTrue(status.contains("Dead:\n node-2"), status)
        // Its maker is dead, but host 1's cached copy still serves it.
        let values = try await ray.get(made, timeout: .seconds(60))
        XCTAssertEqual(values.count, 2_000_000)
        XCTAssertEqual(values.last, 2_000_000)
    }
}

/// Network namespaces `sr<pid>-<i>` with addresses 10.77.<n>.(11+i) on a bridge in the root namespace.
final class NamespaceNetwork: @unchecked Sendable {
    let ip: String
    let prefix: String
    let subnet: Int
    private(set) var names: [String] = []
    private var bridge: String { "\(prefix)br" }

    static var ipCommand: String? {
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(ip: String, hosts: Int) throws {
        self.ip = ip
        prefix = "sr\(getpid() % 100_000)"
        subnet = 100 + Int(getpid() % 150)
        try command(["link", "add", bridge, "type", "bridge"])
        try command(["addr", "add", "10.77.\(subnet).1/24", "dev", bridge])
        try command(["link", "set", bridge, "up"])
        for index in 0..<hosts {
            let name = "\(prefix)-\(index)"
            try command(["netns", "add", name])
            names.append(name)
            try command(["link", "add", "\(prefix)v\(index)", "type", "veth", "peer", "name", "eth0", "netns", name])
            try command(["link", "set", "\(prefix)v\(index)", "master", bridge, "up"])
            try command(["-n", name, "addr", "add", "\(address(of: index))/24", "dev", "eth0"])
            try command(["-n", name, "link", "set", "eth0", "up"])
            try command(["-n", name, "link", "set", "lo", "up"])
        }
    }

    func address(of index: Int) -> String { "10.77.\(subnet).\(11 + index)" }

    /// The command prefix that runs a program on host `index`.
    func exec(_ index: Int) -> [String] { [ip, "netns", "exec", names[index]] }

    func remove() {
        for name in names { _ = try? RayTesting.runProcess(ip, ["netns", "del", name]) }
        _ = try? RayTesting.runProcess(ip, ["link", "del", bridge])
    }

    private func command(_ arguments: [String]) throws {
        let (status, output) = try RayTesting.runProcess(ip, arguments)
        guard status == 0 else { throw TestClusterError(message: "ip \(arguments.joined(separator: " ")): \(output)") }
    }
}
