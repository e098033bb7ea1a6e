import Foundation

/// A real multi-node cluster on this machine for tests (like Ray's `cluster_utils.Cluster`): a head
/// and worker nodes started with the `swiftray` command as background daemons, each node with its
/// own files folder (so job binaries are fetched as on separate machines). `shutdown()` stops them
/// all; call it in `tearDown` so no daemon outlives a failed test.
public final class TestCluster: @unchecked Sendable {
    /// The `swiftray` executable used.
    public let command: String
    /// The head's address (`127.0.0.1:PORT`) and the cluster token.
    public private(set) var address = ""
    public private(set) var token = ""
    /// Files folders: the head's first, then one per added node.
    public private(set) var folders: [String] = []
    private let root: String
    /// The head's start arguments, for `restartHead`.
    private var headArguments: [String] = []
    private var headWrapper: [String] = []
    private var headEnvironment: [String: String] = [:]

    /// The cluster's TLS certificate, which nodes and drivers must trust, when it uses TLS.
    public private(set) var tlsCertificateFile: String?

    /// Starts the head with `cpus` CPUs and `resources`, on a free port of `host`. `wrapper` prefixes
    /// its command (e.g. `ip netns exec NAME` to run it in a network namespace). With `tls` the head
    /// generates a certificate and every link uses TLS (nodes are given the certificate to trust).
    /// `headArguments` are added to the head's `swiftray start`, `environment` to its variables.
    public init(
        command: String = RayTesting.siblingExecutable("swiftray"), cpus: Int = 1, resources: [String: Double] = [:],
        nodeTimeout: Double = 10, host: String = "127.0.0.1", wrapper: [String] = [], tls: Bool = false, headArguments extra: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        self.command = command
        root = NSTemporaryDirectory() + "swiftray-test-cluster-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let head = "\(root)/head"
        folders.append(head)
        headArguments = ["start", "--head", "--host", host, "--num-cpus", "\(cpus)", "--node-timeout", "\(nodeTimeout)",
                         "--dashboard-port", "0", "--temp-dir", head] + Self.resourceArguments(resources) + (tls ? ["--tls"] : []) + extra
        headWrapper = wrapper
        headEnvironment = environment
        try run(headArguments + ["--port", "0"], environment: environment, wrapper: wrapper)
        if tls { tlsCertificateFile = "\(head)/tls_cert.pem" }
        address = try String(contentsOfFile: "\(head)/head_address", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        token = try String(contentsOfFile: "\(head)/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The head's dashboard (`http://127.0.0.1:PORT`), if it serves one.
    public var dashboardURL: String? {
        (try? String(contentsOfFile: "\(folders[0])/dashboard_url", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Adds a worker node (`arguments` are added to its `swiftray start`, `environment` to its
    /// variables; `headAddress` is where it finds the head, by default `address`, e.g. a relay's);
    /// returns its daemon's pid. Its files folder is then `folders.last`.
    @discardableResult
    public func addNode(
        cpus: Int = 1, resources: [String: Double] = [:], wrapper: [String] = [], arguments: [String] = [], environment: [String: String] = [:],
        headAddress: String? = nil
    ) throws -> Int32 {
        let folder = "\(root)/node\(folders.count)"
        folders.append(folder)
        try run(["start", "--address", headAddress ?? address, "--token", token, "--num-cpus", "\(cpus)", "--temp-dir", folder]
                + Self.resourceArguments(resources) + (tlsCertificateFile.map { ["--tls-ca", $0] } ?? []) + arguments,
                environment: environment, wrapper: wrapper)
        return try daemonPID(folder)
    }

    /// Stops the node whose files are in `folder` (as deleting its machine would).
    public func stopNode(_ folder: String) {
        _ = try? run(["stop", "--temp-dir", folder])
    }

    /// SIGKILLs the head (as a crash would) and starts a new one at the same address with the same
    /// token; nodes that keep trying to rejoin join it under their ids.
    public func restartHead() throws {
        try killHead()
        try startHead()
    }

    /// SIGKILLs the head (as a crash would); `startHead` starts it again.
    public func killHead() throws {
        let pid = try daemonPID(folders[0])
        kill(pid, SIGKILL)
        try? FileManager.default.removeItem(atPath: "\(folders[0])/daemons/\(pid)")
    }

    /// Starts a head at the address and with the token of the one `killHead` killed.
    public func startHead() throws {
        let port = address.split(separator: ":").last.map(String.init) ?? "0"
        try run(headArguments + ["--port", port, "--token", token], environment: headEnvironment, wrapper: headWrapper)
    }

    /// The pid of the daemon whose files are in `folder`.
    public func daemonPID(_ folder: String) throws -> Int32 {
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/daemons")
        guard let pid = names.compactMap(Int32.init).first else { throw TestClusterError(message: "no daemon recorded in \(folder)") }
        return pid
    }

    /// Runs `swiftray` with `arguments`; returns its output.
    /// - Throws: if it exits with a failure.
    @discardableResult
    public func run(_ arguments: [String], environment: [String: String] = [:], wrapper: [String] = []) throws -> String {
        let (status, text) = wrapper.isEmpty
            ? try RayTesting.runProcess(command, arguments, environment: environment)
            : try RayTesting.runProcess(wrapper[0], Array(wrapper.dropFirst()) + [command] + arguments, environment: environment)
        guard status == 0 else {
            throw TestClusterError(message: "swiftray \(arguments.joined(separator: " ")) failed (\(status)):\n\(text)")
        }
        return text
    }

    /// Stops every daemon of the cluster and removes its files (kept, logs and all, when
    /// `SWIFTRAY_TEST_KEEP_CLUSTER` is set: for looking into a failure).
    public func shutdown() {
        for folder in folders.reversed() { _ = try? run(["stop", "--temp-dir", folder]) }
        if getenv("SWIFTRAY_TEST_KEEP_CLUSTER") == nil { try? FileManager.default.removeItem(atPath: root) }
    }

    private static func resourceArguments(_ resources: [String: Double]) -> [String] {
        guard !resources.isEmpty, let data = try? JSONEncoder().encode(resources) else { return [] }
        return ["--resources", String(decoding: data, as: UTF8.self)]
    }
}

/// A test cluster could not be started.
public struct TestClusterError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
