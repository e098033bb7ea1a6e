import Foundation
import RayChaos
import NIOPosix
import RayCluster
import RayDashboard
import RayObjectStore
import RayTesting
import RayTransport
import RayWire
import SwiftRay
import XCTest

/// What an attacker or an unlucky operator can do to a cluster, against real daemons and sockets:
/// bad query parameters, huge frames before the token, abandoned HTTP connections, silent ports,
/// a node dying under its tasks, a head restarting under its nodes.
final class HardeningTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
        cluster = nil
    }

    private func startCluster(cpus: Int = 1, nodeTimeout: Double = 10, tls: Bool = false) throws -> TestCluster {
        let cluster = try TestCluster(cpus: cpus, nodeTimeout: nodeTimeout, tls: tls)
        self.cluster = cluster
        return cluster
    }

    // MARK: Query parameters

    func testBadLogQueriesAreRefusedAndTheHeadKeepsServing() async throws {
        let cluster = try startCluster()
        try await Ray.start(address: cluster.address, token: cluster.token)
        _ = try await ray.get($shout.remote("kept in the log"), timeout: .seconds(60))
        let workers = try await ray.state.workers()
        let pid = try XCTUnwrap(workers.first { $0.kind == "task" }?.pid)
        let base = try XCTUnwrap(cluster.dashboardURL) + "/api/logs?pid=\(pid)"
        let logged = try await RayTesting.eventually { try await DashboardTests.get(base).body.contains("kept in the log") }
        XCTAssertTrue(logged)

        for bad in ["&tail=-5", "&tail=9223372036854775807", "&offset=-9223372036854775808", "&offset=-1", "&tail=many"] {
            let reply = try await DashboardTests.get(base + bad)
            XCTAssertEqual(reply.status, 400, "\(bad): \(reply.body)")
        }
        let noPid = try await DashboardTests.get(try XCTUnwrap(cluster.dashboardURL) + "/api/logs?pid=abc")
        XCTAssertEqual(noPid.status, 400)
        let followed = try await DashboardTests.get(base + "&offset=0")
        XCTAssertEqual(followed.status, 200)
        XCTAssertTrue(followed.body.contains("kept in the log"), followed.body)

        // The command line refuses them, and so does the head when a client sends them anyway.
        let (status, output) = try RayTesting.runProcess(
            cluster.command, ["logs", "--pid", "\(pid)", "--tail=-2", "--address", cluster.address, "--token", cluster.token])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("tail"), output)
        let reply = try await Self.ask(cluster, .logsRequest(requestID: 1, LogsQuery(pid: pid, offset: -1, tail: -2)))
        guard case .logs(_, _, _, let error) = reply else { return XCTFail("no logs reply: \(reply)") }
        XCTAssertTrue(error?.contains("offset must be") ?? false, "\(String(describing: error))")
        let statusText = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(statusText.contains("Active:"), "the head still serves: \(statusText)")
    }

    // MARK: Frames before authentication

    func testFramesBeforeTheHelloAreHelloSized() async throws {
        let cluster = try startCluster()
        let headPID = try cluster.daemonPID(cluster.folders[0])
        let port = try XCTUnwrap(UInt16(cluster.address.split(separator: ":").last ?? ""))
        let before = (ProcessVitals.of(headPID)?.residentBytes ?? 0)
        // Each announces a 1 GiB frame and streams 32 MiB of it without ever saying hello.
        var header: [UInt8] = [0x40, 0, 0, 0]
        header += [UInt8](repeating: 0, count: 32 << 20)
        for _ in 0..<4 {
            XCTAssertTrue(RawConnection.closedAfterSending(header, port: port), "the head drops an unauthenticated huge frame")
        }
        let grown = (ProcessVitals.of(headPID)?.residentBytes ?? 0) - before
        XCTAssertLessThan(grown, 64 << 20, "the head buffered \(grown) bytes for strangers")

        // An object server too.
        let store = SharedObjectDirectory.forNode("node-test-\(getpid())-frames", capacity: 1 << 20)
        try store.create()
        defer { store.removeAll() }
        let server = ObjectServer(directory: store, token: "secret")
        let objectPort = try await server.start(host: "127.0.0.1")
        XCTAssertTrue(RawConnection.closedAfterSending(Array(header.prefix(1 << 20)), port: UInt16(objectPort)))
        await server.shutdown()
        XCTAssertTrue(try cluster.run(["status", "--address", cluster.address, "--token", cluster.token]).contains("Active:"))
    }

    // MARK: Dashboard connections

    func testDashboardClosesAbandonedOversizedAndIdleConnections() async throws {
        let limits = Dashboard.Limits(idleTimeout: .milliseconds(300), maxConnections: 128, maxHeaderBytes: 16 << 10)
        let dashboard = try await Dashboard.start(host: "127.0.0.1", port: 0, token: nil, limits: limits) { ClusterState() }
        let port = UInt16(dashboard.port)
        // libdispatch opens a timerfd for the first timer of a clock (`eventually` below sleeps):
        // make it before the baseline, which counts the dashboard's descriptors only.
        try await Task.sleep(for: .milliseconds(1))
        let baseline = Self.openDescriptors()
        let before = Self.descriptorTargets()
        let request = Array("GET /api/state HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 40_000))\r\n\r\n".utf8)
        // 2,000 requests with a header over the limit from clients that neither read the 400 nor
        // close: the dashboard must close each of them itself.
        for _ in 0..<10 {
            let flood = ConnectionFloods.idle(port: port, count: 200, preamble: request, wait: .seconds(20))
            XCTAssertEqual(flood.closed, 200, "every oversized request's connection is closed: \(flood)")
        }
        // Idle keep-alive connections that never send anything are closed too.
        let idle = ConnectionFloods.idle(port: port, count: 100, wait: .seconds(20))
        XCTAssertEqual(idle.closed, 100, "every idle connection is closed: \(idle)")
        let back = await RayTesting.eventually(timeout: .seconds(10)) { Self.openDescriptors() <= baseline }
        XCTAssertTrue(back, "descriptors back to \(baseline): \(Self.openDescriptors()), new: \(Self.descriptorTargets().subtracting(before))")
        let served = try await DashboardTests.get("http://127.0.0.1:\(port)/api/nodes")
        XCTAssertEqual(served.status, 200, "still serving")
        await dashboard.stop()
    }

    func testDashboardTokenOnlyAsBearerAndHTTPSUnderTLS() async throws {
        let cluster = try startCluster(tls: true)
        let url = try XCTUnwrap(cluster.dashboardURL)
        XCTAssertTrue(url.hasPrefix("https://"), url)
        let port = try XCTUnwrap(url.split(separator: ":").last.map(String.init))
        let certificate = try XCTUnwrap(cluster.tlsCertificateFile)
        // The cluster's certificate names "swift-ray": curl checks the chain and the name.
        let (status, body) = try RayTesting.runProcess("/usr/bin/curl", [
            "-sS", "--cacert", certificate, "--resolve", "swift-ray:\(port):127.0.0.1", "https://swift-ray:\(port)/api/nodes",
        ])
        XCTAssertEqual(status, 0, body)
        XCTAssertTrue(body.contains("\"alive\":true"), body)
        let plain = try RayTesting.runProcess("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(port)/api/nodes"])
        XCTAssertFalse(plain.output.contains("\"alive\""), "no plain HTTP under --tls: \(plain.output)")

        let dashboard = try await Dashboard.start(host: "0.0.0.0", port: 0, token: "sesame") { ClusterState() }
        let base = "http://127.0.0.1:\(dashboard.port)"
        let inQuery = try await DashboardTests.get(base + "/api/state?token=sesame")
        XCTAssertEqual(inQuery.status, 401, "a token in the URL is refused")
        let bare = try await DashboardTests.get(base + "/api/state", headers: ["Authorization": "sesame"])
        XCTAssertEqual(bare.status, 401, "only Bearer")
        let page = try await DashboardTests.get(base + "/")
        XCTAssertEqual(page.status, 200, "the page itself asks for the token")
        await dashboard.stop()
    }

    // MARK: TLS only where it is linked

    func testAPlainProgramCarriesNoBoringSSLAndSaysWhyItCannotJoinATLSCluster() throws {
        let plain = RayTesting.siblingExecutable("RayTestDriver")
        let withTLS = RayTesting.siblingExecutable("swiftray")
        XCTAssertFalse(try Self.binary(plain, contains: "SSL_CTX_new"), "a program linking SwiftRay alone has no BoringSSL")
        XCTAssertTrue(try Self.binary(withTLS, contains: "SSL_CTX_new"), "the command, which serves TLS, has it")

        let cluster = try startCluster(tls: true)
        let certificate = try XCTUnwrap(cluster.tlsCertificateFile)
        let (status, output) = try RayTesting.runProcess(
            plain, ["connect", cluster.address, cluster.token], environment: ["SWIFTRAY_TLS_CA_FILE": certificate])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("add the SwiftRayTLS product"), output)
        let plainCluster = try TestCluster(cpus: 1)
        defer { plainCluster.shutdown() }
        let joined = try RayTesting.runProcess(plain, ["connect", plainCluster.address, plainCluster.token])
        XCTAssertEqual(joined.status, 0, joined.output)
        XCTAssertTrue(joined.output.contains("RESULT 5"), joined.output)
    }

    func testADashboardOnlyInProgramsThatLinkIt() throws {
        let plain = RayTesting.siblingExecutable("RayTestDriver")
        XCTAssertFalse(try Self.binary(plain, contains: "11Hummingbird"), "a program linking SwiftRay alone has no HTTP server")
        XCTAssertTrue(try Self.binary(RayTesting.siblingExecutable("swiftray-examples"), contains: "11Hummingbird"))
        let (status, output) = try RayTesting.runProcess(plain, ["dashboard"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("DASHBOARD none"), output)
    }

    static func binary(_ path: String, contains text: String) throws -> Bool {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        return bytes.range(of: Data(text.utf8)) != nil
    }

    // MARK: Clients

    func testClientsGiveUpOnSilentAndForeignPorts() async throws {
        let silent = try SilentListener()
        let command = RayTesting.siblingExecutable("swiftray")
        let started = ContinuousClock.now
        let (status, output) = try RayTesting.runProcess(
            command, ["status", "--address", "127.0.0.1:\(silent.port)", "--token", "x"], environment: ["SWIFTRAY_CONNECT_TIMEOUT": "1"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("no answer from 127.0.0.1:\(silent.port)"), output)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))

        setenv("SWIFTRAY_CONNECT_TIMEOUT", "1", 1)
        defer { unsetenv("SWIFTRAY_CONNECT_TIMEOUT") }
        do {
            try await Ray.start(address: "127.0.0.1:\(silent.port)", token: "x")
            XCTFail("a silent port is not a cluster")
        } catch {
            XCTAssertTrue("\(error)".contains("no answer"), "\(error)")
        }

        let cluster = try startCluster()
        let dashboardPort = try XCTUnwrap(cluster.dashboardURL?.split(separator: ":").last.map(String.init))
        let http = try RayTesting.runProcess(command, ["status", "--address", "127.0.0.1:\(dashboardPort)", "--token", cluster.token])
        XCTAssertNotEqual(http.status, 0)
        XCTAssertTrue(http.output.contains("not a swift-ray port (got HTTP)"), http.output)

        // A port in use is named; hints keep the temp dir.
        let folder = NSTemporaryDirectory() + "swiftray-busy-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let headPort = String(cluster.address.split(separator: ":").last ?? "")
        let busy = try RayTesting.runProcess(command, ["start", "--head", "--host", "127.0.0.1", "--port", headPort, "--temp-dir", folder])
        XCTAssertNotEqual(busy.status, 0)
        XCTAssertTrue(busy.output.contains("127.0.0.1:\(headPort)"), busy.output)
    }

    func testTheTokenStaysOffDaemonCommandLines() throws {
        let cluster = try startCluster()
        let node = try cluster.addNode(cpus: 1)
        let commandLine = try String(contentsOfFile: "/proc/\(node)/cmdline", encoding: .utf8)
        XCTAssertTrue(commandLine.contains("--address"), commandLine)
        XCTAssertFalse(commandLine.contains(cluster.token), "ps shows the token: \(commandLine)")
        let status = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(status.contains("node-1"), "the node joined with the token from its environment: \(status)")
        XCTAssertTrue(status.contains("GiB memory"), status)
        XCTAssertFalse(status.contains("[IPv4]"), status)
    }

    // MARK: Nodes dying and coming back

    func testARetryAvoidsANodeWhoseWorkerDiedUntilItsDaemonConfirms() async throws {
        let cluster = try startCluster(cpus: 1, nodeTimeout: 60)
        let daemon = try cluster.addNode(cpus: 2)
        try await Ray.start(address: cluster.address, token: cluster.token)
        let head = try await ray.get($whereAmI.remote(), timeout: .seconds(60))
        let node = try await ray.get($whereAmI.options(numCPUs: 2).remote(), timeout: .seconds(60))
        XCTAssertNotEqual(head, node)
        // Two workers on the node, both registered and idle afterwards.
        let onNode = SchedulingStrategy.nodeAffinity(nodeID: node, soft: false)
        _ = try await ray.get((0..<2).map { $slowSquareWithNode.options(schedulingStrategy: onNode).remote($0, 0.3) }, timeout: .seconds(60))

        let preferNode = SchedulingStrategy.nodeAffinity(nodeID: node, soft: true)
        let ref = $slowSquareWithNode.options(maxRetries: 1, schedulingStrategy: preferNode).remote(7, 2)
        var running: TaskState?
        let started = try await RayTesting.eventually(timeout: .seconds(30)) {
            running = try await ray.state.tasks().first { $0.name.contains("slowSquareWithNode") && $0.state == .running && $0.attempt == 0 && $0.nodeID == node }
            return running != nil
        }
        XCTAssertTrue(started)
        let pid = try XCTUnwrap(running?.workerPID)
        // The daemon is frozen, so it cannot confirm the worker's death: the node may be dying.
        kill(daemon, SIGSTOP)
        defer { kill(daemon, SIGCONT) }
        kill(pid, SIGKILL)
        let result = try await ray.get(ref, timeout: .seconds(60))
        XCTAssertEqual(result, [head, "49"], "the retry went to the head, not to the node's other worker")
        kill(daemon, SIGCONT)
        // Once the daemon reports the exit, the node takes work again.
        let back = try await ray.get($whereAmI.options(schedulingStrategy: onNode).remote(), timeout: .seconds(60))
        XCTAssertEqual(back, node)
    }

    func testANodeRejoinsARestartedHead() async throws {
        let cluster = try startCluster(cpus: 1)
        try cluster.addNode(cpus: 1, arguments: ["--head-reconnect-timeout", "60"])
        let access = ["--address", cluster.address, "--token", cluster.token]
        try cluster.restartHead()
        let rejoined = try await RayTesting.eventually(timeout: .seconds(30), every: .milliseconds(200)) {
            let status = try cluster.run(["status"] + access)
            return status.components(separatedBy: "workers, object store").count - 1 == 2
        }
        let status = try cluster.run(["status"] + access)
        XCTAssertTrue(rejoined, status)
        try await Ray.start(address: cluster.address, token: cluster.token)
        let nodes = try await ray.state.nodes().filter(\.alive)
        XCTAssertEqual(nodes.count, 2)
        let rejoinedNode = try XCTUnwrap(nodes.first { !$0.isHead }?.nodeID)
        let ran = try await ray.get(
            $whereAmI.options(schedulingStrategy: .nodeAffinity(nodeID: rejoinedNode, soft: false)).remote(), timeout: .seconds(60))
        XCTAssertEqual(ran, rejoinedNode, "the rejoined node runs work")
    }

    // MARK: Helpers

    /// Sends `request` to the head as a CLI client would and returns the reply.
    static func ask(_ cluster: TestCluster, _ request: ControlMessage) async throws -> ControlMessage {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let address = try ClusterAddress.resolve(cluster.address, files: ClusterFiles(root: cluster.folders[0]))
            let hello = Hello(token: cluster.token, role: .client, pid: getpid(), host: "test")
            let connection = try await HeadConnection.connect(host: address.host, port: address.port, hello: hello, group: group)
            guard case .welcome = try await connection.nextControl() else { throw TestClusterError(message: "not welcomed") }
            connection.send(.control(request))
            let reply = try await connection.nextControl()
            connection.close()
            try await group.shutdownGracefully()
            return reply
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }
}

extension HardeningTests {
    static func openDescriptors() -> Int { ProcessVitals.of(getpid())?.descriptors ?? 0 }

    /// This process's descriptors and what each is open on, to name the ones a test leaked.
    static func descriptorTargets() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(names.map { "\($0) -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) ?? "?") })
    }
}
