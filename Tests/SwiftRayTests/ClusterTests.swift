import Foundation
import RayChaos
import RayTesting
import SwiftRay
import XCTest

/// A real cluster of daemons on this machine (`swiftray start --head`, `swiftray start --address`),
/// each node with its own files folder so the driver's binary travels to it, and this test process
/// as a driver connected by address.
final class ClusterTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    private func connect(_ cluster: TestCluster) async throws {
        try await Ray.start(address: cluster.address, token: cluster.token, runtimeEnv: RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_JOB": "remote-job"]))
    }

    func testTasksAndActorsRunAcrossNodes() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 2, resources: ["special": 1])
        try await connect(cluster)
        let head = try await ray.get($whereAmI.remote(), timeout: .seconds(60))
        let special = try await ray.get($whereAmI.options(resources: ["special": 1]).remote(), timeout: .seconds(60))
        XCTAssertNotEqual(head, special, "a resource only the worker node has sends the task there")
        XCTAssertTrue(special.hasPrefix("node-1"), special)

        // Three one-second tasks on 1 + 2 CPUs: packed on the head first, spilled to the node.
        let results = try await ray.get((0..<3).map { $slowSquareWithNode.remote($0, 1.0) }, timeout: .seconds(60))
        XCTAssertEqual(results.map { $0[1] }, ["0", "1", "4"])
        XCTAssertEqual(Set(results.map { $0[0] }).count, 2, "both nodes ran tasks: \(results)")

        // An object put by the driver reaches a task on the other node intact.
        let values = (0..<200_000).map(Double.init)
        let big = try ray.put(values)
        let summed = try await ray.get($sumOnNode.options(resources: ["special": 1]).remote(big), timeout: .seconds(60))
        XCTAssertEqual(summed, [special, String(values.reduce(0, +))])

        // An actor placed by a custom resource lives on that node and keeps its state.
        let counter = try await ray.actor(Counter.self, options: ActorOptions(resources: ["special": 1]))
        let counts = try await ray.get((0..<5).map { _ in counter.remote.increment() }, timeout: .seconds(60))
        XCTAssertEqual(counts, [1, 2, 3, 4, 5])

        // The head's key-value store is shared with tasks on other nodes.
        try await ray.kv.put("mode", value: "cluster")
        let echoed = try await ray.get(
            $echoThroughKV.options(schedulingStrategy: .nodeAffinity(nodeID: special, soft: false)).remote("mode"), timeout: .seconds(60))
        XCTAssertEqual(echoed, "cluster")
        let writer = try await ray.kv.get("mode-seen", as: String.self)
        XCTAssertEqual(writer, special)

        // A queue held on the head is used by a task on the other node, through a bound of 5.
        let queue = try await Queue<Int>(maxSize: 5)
        let onSpecial = SchedulingStrategy.nodeAffinity(nodeID: special, soft: false)  // its `special` is held by the counter
        let consumer = $consume.options(schedulingStrategy: onSpecial).remote(queue, 20)
        for value in 0..<20 { try await queue.put(value, timeout: .seconds(60)) }
        let consumed = try await ray.get(consumer, timeout: .seconds(60))
        XCTAssertEqual(consumed, Array(0..<20))

        // Several results made on the other node, each read on its own (the large one pulled here).
        let (count, _, doubled) = $splitStats.options(schedulingStrategy: onSpecial).remote(values)
        let n = try await ray.get(count, timeout: .seconds(60))
        let twice = try await ray.get(doubled, timeout: .seconds(60))
        XCTAssertEqual(n, values.count)
        XCTAssertEqual(twice.last, values.last! * 2)

        // A runtime environment reaches a worker the other node's daemon starts.
        let env = RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_MODE": "remote"])  // added to the job's (see connect)
        let mode = try await ray.get($variable.options(schedulingStrategy: onSpecial, runtimeEnv: env).remote("SWIFTRAY_TEST_MODE"), timeout: .seconds(60))
        XCTAssertEqual(mode, "remote")
        let job = try await ray.get($variable.options(schedulingStrategy: onSpecial).remote("SWIFTRAY_TEST_JOB"), timeout: .seconds(60))
        XCTAssertEqual(job, "remote-job", "a connected driver's job environment reaches other nodes")
        let folder = try makeWorkingDirectory("cluster")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let shipped = try await ray.get(
            $fileWhereIRun.options(schedulingStrategy: onSpecial, runtimeEnv: RuntimeEnvironment(workingDir: folder)).remote("sub/nested.txt"),
            timeout: .seconds(60))
        XCTAssertEqual(shipped[0], "nested cluster", "a working directory reaches a worker on another node")

        // A request no node can ever fit is refused, and status counts it.
        do {
            _ = try await ray.get($whereAmI.options(resources: ["nowhere": 1]).remote(), timeout: .seconds(60))
            XCTFail("no node has that resource")
        } catch is TaskUnschedulableError {}

        let status = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(status.contains("special"), status)
        XCTAssertTrue(status.contains("Drivers: 1"), status)
        XCTAssertTrue(status.contains("nowhere: 1}: 1 requests"), status)
    }

    func testStreamsAcrossNodes() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 2, resources: ["special": 1])
        try await connect(cluster)
        let onNode = try await ray.get($whereAmI.options(resources: ["special": 1]).remote(), timeout: .seconds(60))
        let there = SchedulingStrategy.nodeAffinity(nodeID: onNode, soft: false)

        // Items made on the other node, large ones in its store, reach this driver in order.
        var sizes: [Int] = []
        for try await block in $blocks.options(schedulingStrategy: there).remote(3, 50_000).values { sizes.append(block.count) }
        XCTAssertEqual(sizes, [50_000, 50_000, 50_000])

        // The producer's process is killed mid-stream: its retry does not repeat what was seen.
        let gate = try await Queue<Int>()
        var seen: [[Int]] = []
        for try await ref in $killableStream.options(schedulingStrategy: there).remote(6, 3, gate) {
            let item = try await ray.get(ref, timeout: .seconds(60))
            seen.append(item)
            if item[0] == 2 && item[2] == 0 { kill(pid_t(item[1]), SIGKILL) }
        }
        XCTAssertEqual(seen.map { $0[0] }, Array(0..<6), "each item once, in order")
        XCTAssertEqual(seen.map { $0[2] }, [0, 0, 0, 1, 1, 1], "the last three came from the retry")
    }

    /// A process the driver starts does not inherit its connection to the head (NIO opens its
    /// sockets inheritable): once the driver shuts down, the head sees it leave while the child
    /// lives on.
    func testADriversChildProcessDoesNotHoldItsSessionOpen() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try await connect(cluster)
        // Started as `posix_spawn` or `system` would, inheriting every descriptor not close-on-exec.
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("60"), nil]
        defer { argv.forEach { free($0) } }
        XCTAssertEqual(posix_spawn(&child, "/bin/sleep", nil, nil, argv, environ), 0)
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        let access = ["--address", cluster.address, "--token", cluster.token]
        XCTAssertTrue(try cluster.run(["status"] + access).contains("Drivers: 1"))
        try await ray.shutdown()
        let left = try await RayTesting.eventually(timeout: .seconds(20)) {
            try cluster.run(["status"] + access).contains("Drivers: 0")
        }
        XCTAssertTrue(left, "the head saw the driver leave while its child still runs")
    }

    /// Refs decoded from a job that has ended (its objects freed with it) fail `get` and `wait` at
    /// once with `ObjectLostError`, whatever the timeout, as refs whose owner died do in Ray.
    func testRefsFromAnEndedJobFailAtOnce() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let (status, text) = try RayTesting.runProcess(
            RayTesting.siblingExecutable("RayTestDriver"), ["share", cluster.address, cluster.token])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("SHARED"), text)
        try await connect(cluster)
        for key in ["shared-put", "shared-task"] {
            let stored = try await ray.kv.get(key, as: ObjectRef<Int>.self)
            let ref = try XCTUnwrap(stored)
            let started = ContinuousClock.now
            do {
                _ = try await ray.get(ref, timeout: .seconds(60))
                XCTFail("\(key): the object went with its job")
            } catch is ObjectLostError {}
            let (ready, _) = try await ray.wait([ref], numReturns: 1, timeout: .seconds(60))
            XCTAssertEqual(ready, [ref], "\(key): an object nobody will produce is ready (failed) for wait")
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(30), "\(key): no waiting out the timeout")
        }
    }

    func testStrategiesAndPlacementGroupsAcrossNodes() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 2, resources: ["special": 1])
        try await connect(cluster)
        let head = try await ray.get($whereAmI.remote(), timeout: .seconds(60))
        let worker = try await ray.get($whereAmI.options(resources: ["special": 1]).remote(), timeout: .seconds(60))

        let pinned = try await ray.get(
            (0..<3).map { _ in $whereAmI.options(schedulingStrategy: .nodeAffinity(nodeID: worker, soft: false)).remote() }, timeout: .seconds(60))
        XCTAssertEqual(pinned, [worker, worker, worker])
        let spread = try await ray.get(
            (0..<2).map { $slowSquareWithNode.options(schedulingStrategy: .spread).remote($0, 0.5) }, timeout: .seconds(60))
        XCTAssertEqual(Set(spread.map { $0[0] }), [head, worker], "spread uses both nodes")

        let apart = try await ray.placementGroup(bundles: [["CPU": 1], ["CPU": 1]], strategy: .strictSpread)
        try await apart.ready(timeout: .seconds(30))
        let places = try await ray.get(
            (0..<2).map { $whereAmI.options(schedulingStrategy: .placementGroup(apart, bundleIndex: $0)).remote() }, timeout: .seconds(60))
        XCTAssertEqual(Set(places), [head, worker], "STRICT_SPREAD puts each bundle on its own node")
        try await ray.removePlacementGroup(apart)

        let together = try await ray.placementGroup(bundles: [["CPU": 1], ["CPU": 1]], strategy: .strictPack)
        try await together.ready(timeout: .seconds(30))
        let packed = try await ray.get(
            (0..<2).map { $whereAmI.options(schedulingStrategy: .placementGroup(together, bundleIndex: $0)).remote() }, timeout: .seconds(60))
        XCTAssertEqual(packed, [worker, worker], "STRICT_PACK needs the one node with 2 CPUs")
        try await ray.removePlacementGroup(together)
    }

    func testStateCommandsAgainstALiveCluster() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 2, resources: ["special": 1])
        try await connect(cluster)
        let node = try await ray.get($whereAmI.options(resources: ["special": 1]).remote(), timeout: .seconds(60))
        let counter = try await ray.actor(Counter.self, options: ActorOptions(resources: ["special": 1], name: "listed"))
        _ = try await counter.increment()
        let kept = try ray.put(Array(repeating: 7, count: 50_000))
        let access = ["--address", cluster.address, "--token", cluster.token]

        let nodes = try cluster.run(["list", "nodes"] + access)
        XCTAssertTrue(nodes.contains(node) && nodes.contains("2 row(s)"), nodes)
        let actors = try cluster.run(["list", "actors", "--filter", "name=listed"] + access)
        XCTAssertTrue(actors.contains("Counter") && actors.contains("ALIVE") && actors.contains(node), actors)
        let finished = try cluster.run(["list", "tasks", "--filter", "state=FINISHED", "--json"] + access)
        XCTAssertTrue(finished.contains("whereAmI"), finished)
        // JSON keeps each field's type (numbers, booleans, objects), so it decodes as the state types.
        let rows = try JSONDecoder().decode([TaskState].self, from: Data(finished.utf8))
        XCTAssertTrue(rows.allSatisfy { $0.state == .finished && $0.attempt == 0 }, "\(rows)")
        let nodeRows = try JSONDecoder().decode(
            [NodeState].self, from: Data(try cluster.run(["list", "nodes", "--json", "--filter", "alive=true"] + access).utf8))
        XCTAssertEqual(nodeRows.count, 2)
        XCTAssertTrue(nodeRows.allSatisfy { $0.alive && $0.total["CPU"] != nil })
        let summary = try cluster.run(["summary", "tasks"] + access)
        XCTAssertTrue(summary.contains("whereAmI"), summary)
        let memory = try cluster.run(["memory"] + access)
        XCTAssertTrue(memory.contains("\(kept.id)"), memory)
        let jobs = try cluster.run(["list", "jobs"] + access)
        XCTAssertTrue(jobs.contains("RUNNING") && jobs.contains("\(getpid())"), jobs)
        let trace = NSTemporaryDirectory() + "swiftray-trace-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: trace) }
        _ = try cluster.run(["timeline", "--output", trace] + access)
        let events = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: trace))) as? [[String: Any]]
        XCTAssertTrue(events?.contains { $0["name"] as? String == "whereAmI" && $0["pid"] as? String == node } ?? false)
    }

    func testKilledNodeTasksAreRetriedElsewhere() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let daemon = try cluster.addNode(cpus: 2)
        try await connect(cluster)
        let refs = (0..<6).map { $slowSquareWithNode.remote($0, 1.5) }
        // Once the node runs some of them, its daemon (and with it its workers) is killed.
        let started = await RayTesting.eventually(timeout: .seconds(60)) {
            (try? cluster.run(["status", "--address", cluster.address, "--token", cluster.token]))?.contains("3.0/3.0 CPU") ?? false
        }
        XCTAssertTrue(started, "the tasks filled both nodes")
        kill(daemon, SIGKILL)
        let results = try await ray.get(refs, timeout: .seconds(120))
        XCTAssertEqual(results.map { $0[1] }, (0..<6).map { String($0 * $0) }, "every result is right after the node died")
        let status = try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(status.contains("Dead:\n node-1"), status)
    }

    func testSilentNodeIsDeclaredDeadAfterTheTimeout() async throws {
        let cluster = try TestCluster(cpus: 1, nodeTimeout: 2)
        self.cluster = cluster
        let daemon = try cluster.addNode(cpus: 2, resources: ["special": 1])
        try await connect(cluster)
        let node = try await ray.get($whereAmI.options(resources: ["special": 1]).remote(), timeout: .seconds(60))
        let refs = (0..<3).map { $slowSquareWithNode.remote($0, 1.0) }
        // The daemon stops heartbeating (its connection stays open): after --node-timeout the head
        // declares the node dead and retries its tasks on the head.
        kill(daemon, SIGSTOP)
        defer { kill(daemon, SIGKILL) }
        let results = try await ray.get(refs, timeout: .seconds(120))
        XCTAssertEqual(results.map { $0[1] }, ["0", "1", "4"])
        let declared = await RayTesting.eventually(timeout: .seconds(20)) {
            (try? cluster.run(["status", "--address", cluster.address, "--token", cluster.token]))?.contains("Dead:\n \(node)") ?? false
        }
        XCTAssertTrue(declared, "the silent node is listed as dead")
    }

    func testConnectionsWithoutTheTokenAreRejected() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let port = UInt16(cluster.address.split(separator: ":").last!)!
        XCTAssertTrue(RawConnection.closedAfterSending(Array("GET / HTTP/1.1\r\n\r\n".utf8), port: port), "garbage is dropped")
        XCTAssertTrue(RawConnection.closedAfterSending([0, 0, 0, 200, 1, 30] + Array(repeating: 7, count: 200), port: port), "a bad frame is dropped")
        do {
            try await Ray.start(address: cluster.address, token: "not-the-token")
            XCTFail("a wrong token must be refused")
        } catch let error as RaySystemError {
            XCTAssertTrue(error.message.contains("closed"), error.message)
        }
        // The head keeps serving.
        try await connect(cluster)
        let value = try await ray.get($square.remote(9), timeout: .seconds(60))
        XCTAssertEqual(value, 81)
    }

    func testWorkerOutputReachesARemoteDriver() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let (status, text) = try RayTesting.runProcess(
            RayTesting.siblingExecutable("RayTestDriver"), ["print"],
            environment: ["SWIFTRAY_ADDRESS": cluster.address, "SWIFTRAY_TOKEN": cluster.token])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("RESULT 17"), text)
        let line = try XCTUnwrap(text.range(of: #"\(printer pid=\d+\) hello from a task"#, options: .regularExpression), text)
        let pid = text[line].split(separator: "=")[1].prefix { $0.isNumber }
        // The head kept the worker's output: `swiftray logs` prints it.
        let kept = try cluster.run(["logs", "--pid", String(pid), "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(kept.contains("hello from a task"), kept)
    }
}
