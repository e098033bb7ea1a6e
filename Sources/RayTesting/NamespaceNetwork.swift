import Foundation

/// Network namespaces `sr<pid>-<i>` with addresses 10.77.<n>.(11+i) on a bridge in the root
/// namespace: several "hosts" on one machine for a `TestCluster` (`wrapper: exec(i)`), so what
/// crosses between nodes crosses a network.
public final class NamespaceNetwork: @unchecked Sendable {
    let ip: String
    let prefix: String
    let subnet: Int
    private(set) var names: [String] = []
    private var bridge: String { "\(prefix)br" }

    /// iproute2's `ip`, if installed.
    public static var ipCommand: String? {
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Makes `hosts` namespaces on a new bridge (root only); `remove` deletes them (as a failed
    /// init does with what it made).
    public init(ip: String, hosts: Int) throws {
        self.ip = ip
        prefix = "sr\(getpid() % 100_000)"
        subnet = 100 + Int(getpid() % 150)
        do {
            try build(hosts: hosts)
        } catch {
            remove()
            throw error
        }
    }

    private func build(hosts: Int) throws {
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

    /// Host `index`'s address on the bridge.
    public func address(of index: Int) -> String { "10.77.\(subnet).\(11 + index)" }

    /// The command prefix that runs a program on host `index`.
    public func exec(_ index: Int) -> [String] { [ip, "netns", "exec", names[index]] }

    /// Deletes the namespaces and the bridge.
    public func remove() {
        for name in names { _ = try? RayTesting.runProcess(ip, ["netns", "del", name]) }
        _ = try? RayTesting.runProcess(ip, ["link", "del", bridge])
    }

    private func command(_ arguments: [String]) throws {
        let (status, output) = try RayTesting.runProcess(ip, arguments)
        guard status == 0 else { throw TestClusterError(message: "ip \(arguments.joined(separator: " ")): \(output)") }
    }
}

/// A cluster across namespace "hosts": its head (1 CPU) on host 0 and, on host i + 1, a node with
/// 2 CPUs and `nodeResources[i]`; `stop` shuts it down and removes the hosts.
public final class NamespaceCluster: Sendable {
    public let network: NamespaceNetwork
    public let cluster: TestCluster
    /// The nodes' daemon pids, in `nodeResources`' order.
    public let nodes: [Int32]

    /// nil where namespaces cannot be made (not root, or no iproute2); whatever was started is
    /// stopped if a part fails.
    public static func start(nodeResources: [[String: Double]]) throws -> NamespaceCluster? {
        guard getuid() == 0, let ip = NamespaceNetwork.ipCommand else { return nil }
        let network = try NamespaceNetwork(ip: ip, hosts: nodeResources.count + 1)
        do {
            let cluster = try TestCluster(cpus: 1, host: network.address(of: 0), wrapper: network.exec(0))
            do {
                let nodes = try nodeResources.enumerated().map { index, resources in
                    try cluster.addNode(cpus: 2, resources: resources, wrapper: network.exec(index + 1))
                }
                return NamespaceCluster(network: network, cluster: cluster, nodes: nodes)
            } catch {
                cluster.shutdown()
                throw error
            }
        } catch {
            network.remove()
            throw error
        }
    }

    private init(network: NamespaceNetwork, cluster: TestCluster, nodes: [Int32]) {
        self.network = network
        self.cluster = cluster
        self.nodes = nodes
    }

    public func stop() {
        cluster.shutdown()
        network.remove()
    }
}
