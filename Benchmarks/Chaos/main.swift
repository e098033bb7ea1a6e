import ArgumentParser
import Foundation
import RayChaos
import RayTesting
import SwiftRay

/// Long chaos and fuzz runs against a real cluster started from the `swiftray` beside this binary:
/// `swift run -c release swiftray-chaos fuzz --inputs 1000000`.
@main
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftray-chaos", abstract: "Chaos and fuzz runs against a real local cluster.",
        subcommands: [FuzzCommand.self, WorkersCommand.self, NodesCommand.self, HeadCommand.self])
}

/// Fuzzes every listening port of a head and a worker node, then checks they are alive, back to
/// their descriptors, near their memory and serving.
struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fuzz", abstract: "Fuzz every port of a two-node cluster.")

    @Option(help: "Inputs per port.") var inputs = 1_000_000 / 6
    @Option(help: "The seed (input i of a port is generated from seed + port and i).") var seed: UInt64 = 22
    @Option(help: "Concurrent connections per port.") var connections = 8
    @Option(help: "Fuzz this running process instead (with --cluster-port and --token).") var pid: Int32?
    @Option(help: "The running cluster's port.") var clusterPort: UInt16?
    @Option(help: "The running cluster's token.") var token: String?

    func run() async throws {
        if let pid, let clusterPort, let token { return try await fuzz([pid], clusterPort: clusterPort, token: token, status: nil) }
        let cluster = try TestCluster(cpus: 1, headArguments: ["--health-port", "0"])
        defer { cluster.shutdown() }
        try cluster.addNode(cpus: 1, arguments: ["--health-port", "0"])
        guard let clusterPort = cluster.address.split(separator: ":").last.flatMap({ UInt16($0) }) else { throw ValidationError("no head port") }
        let pids = try cluster.folders.map { try cluster.daemonPID($0) }
        try await fuzz(pids, clusterPort: clusterPort, token: cluster.token) {
            try cluster.run(["status", "--address", cluster.address, "--token", cluster.token])
        }
    }

    private func fuzz(_ pids: [Int32], clusterPort: UInt16, token: String, status: (() throws -> String)?) async throws {
        let baseline = pids.compactMap(ProcessVitals.of)
        let targets = pids.flatMap { pid in
            ProcessVitals.listeningPorts(of: pid).map { port in
                PortFuzzer(port: port, speaks: FuzzProtocol.guess(port, clusterPort: clusterPort, token: token), seed: seed &+ UInt64(port))
            }
        }
        let started = ContinuousClock.now
        let reports = await withTaskGroup(of: FuzzReport.self) { group in
            for target in targets {
                group.addTask { await FuzzProtocol.offPool { target.run(inputs, connections: connections) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let elapsed = ContinuousClock.now - started
        for report in reports { print(report) }
        let total = reports.reduce(0) { $0 + $1.inputs }
        print("\(total) inputs to \(targets.count) ports in \(elapsed) (\(Int(Double(total) / elapsed.seconds)) per second)")
        try await Task.sleep(for: .seconds(12))
        for (pid, before) in zip(pids, baseline) {
            guard let now = ProcessVitals.of(pid) else { throw ValidationError("process \(pid) died") }
            print("process \(pid): \(before) before, \(now) 12 s after")
        }
        guard let status else { return }
        let answer = try status()
        print(answer.contains("Active:") ? "the cluster serves" : "the cluster does not answer: \(answer)")
    }
}

/// Tasks and actor calls on an embedded cluster while a random worker is SIGKILLed every interval.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workers", abstract: "Kill workers during tasks and actor calls.")

    @Option(help: "Tasks (retried forever).") var tasks = 100_000
    @Option(help: "Actor calls (half retried forever, half at most once).") var calls = 20_000
    @Option(help: "Milliseconds between kills.") var killEvery = 100
    @Option(help: "CPUs of the embedded cluster.") var cpus = 2
    @Option(help: "The seed (which worker dies).") var seed: UInt64 = 22

    func run() async throws {
        try await Ray.start(numCPUs: cpus, includeDashboard: false)
        let folder = NSTemporaryDirectory() + "swiftray-chaos-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let report = try await ChaosWorkload.run(tasks: tasks, calls: calls, killEvery: .milliseconds(killEvery), seed: seed, folder: folder)
        try await ray.shutdown()
        print(report)
        print(report.clean ? "nothing lost, nothing wrong, nothing run twice" : "FAILED")
        if !report.clean { throw ExitCode.failure }
    }
}

/// Three nodes on three "hosts" (network namespaces; root only): round after round, a workload
/// whose actors start on host 2's node, which is SIGKILLed half-way with work running there; a
/// new node then joins on that host for the next round.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "nodes", abstract: "Kill a node mid-workload, round after round.")

    @Option(help: "Node kills.") var rounds = 5
    @Option(help: "Tasks per round (retried forever).") var tasks = 10_000
    @Option(help: "Actor calls per round (half retried forever, half at most once).") var calls = 2_000

    func run() async throws {
        guard let hosts = try NamespaceCluster.start(nodeResources: [[:], [:]]) else { throw ValidationError("needs root and iproute2 (ip netns)") }
        defer { hosts.stop() }
        let (cluster, network, nodes) = (hosts.cluster, hosts.network, hosts.nodes)
        try await Ray.start(address: cluster.address, token: cluster.token)
        let folder = NSTemporaryDirectory() + "swiftray-node-chaos-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var doomed = nodes[1]
        var known = Set<String>()
        for round in 1...rounds {
            let nodeID = try await Self.newNode(known: &known)
            let strike = NodeKill(daemon: doomed, nodeID: nodeID, folder: "\(folder)/\(round)")
            let report = try await ChaosWorkload.run(
                tasks: tasks, calls: calls, killEvery: nil, seed: UInt64(round), folder: "\(folder)/\(round)",
                actorsAt: .nodeAffinity(nodeID: nodeID, soft: true), midway: strike.strike)
            let slowRight = try await strike.slowTasksRight()
            print("round \(round): node \(nodeID) killed mid-run; \(report); slow tasks \(slowRight ? "right" : "WRONG")")
            guard report.clean, slowRight else { throw ExitCode.failure }
            if round < rounds { doomed = try cluster.addNode(cpus: 2, wrapper: network.exec(2)) }
        }
        try await ray.shutdown()
        print("nothing lost, nothing wrong, nothing run twice")
    }

    /// The id of the newest alive worker node not in `known` (waits for it to join), added to it.
    private static func newNode(known: inout Set<String>) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let alive = try await ray.state.nodes().filter { $0.alive && !$0.isHead }.map(\.nodeID)
            if let id = alive.filter({ !known.contains($0) }).max() {
                known.formUnion(alive)
                return id
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ValidationError("no new node joined within 60 s")
    }
}

/// A detached actor that outlives its head's crash (re-attached from a worker node, or restarted),
/// with a large object in its node's store.
@RayActor
distributed actor Keeper {
    var stored: ObjectRef<[Int]>?

    distributed func ping() -> Int32 { getpid() }

    distributed func store(count: Int) throws { stored = try ray.put(Array(0..<count)) }

    /// The stored object's sum (-1 without one).
    distributed func storedSum() async throws -> Int { try await stored?.get().reduce(0, +) ?? -1 }
}

/// SIGKILLs the head of a two-node cluster and restarts it, round after round, timing how long
/// until both nodes are back and two detached actors answer a new driver under their names: one
/// on the worker node, whose process re-attaches (the same pid every round) and reads the 8 MB
/// object it put in its node's store before the first crash, and one on the head's node, restarted.
struct HeadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "head", abstract: "Kill and restart the head; time the recovery.")

    @Option(help: "Head crashes.") var rounds = 5
    @Flag(help: "Keep the head's state in a PostgreSQL server this run starts, and start each new head on an empty folder (a head whose machine was lost).")
    var postgres = false
    @Flag(help: "Keep one driver connected through every crash (its session resumed by the new head) instead of connecting a new one each round; time a task submitted during the outage and one in flight on the worker node at the kill (which finishes there).")
    var resume = false

    func run() async throws {
        let database = postgres ? try TestPostgres() : nil
        defer { database?.stop() }
        let cluster = try TestCluster(cpus: 1, resources: ["head_node": 1], headArguments: database.map { ["--state-store", $0.url] } ?? [])
        defer { cluster.shutdown() }
        try cluster.addNode(cpus: 1, resources: ["worker_node": 2])  // one for `kept`, one for `--resume`'s task
        try await Ray.start(address: cluster.address, token: cluster.token)
        // No restarts for the worker node's: only re-attaching its process brings it back.
        let kept = try await ray.actor(Keeper.self, options: ActorOptions(resources: ["worker_node": 1], name: "kept", lifetime: .detached))
        // A moved head restarts it from the job's binary the worker node (or the new driver) hands back.
        let restarted = try await ray.actor(Keeper.self, options: ActorOptions(resources: ["head_node": 1], maxRestarts: -1, name: "restarted", lifetime: .detached))
        let keptPID = try await kept.ping()
        let count = 1_000_000
        try await kept.store(count: count)
        let expectedSum = (0..<count).reduce(0, +)
        print("'kept' (worker node) answers from pid \(keptPID), 'restarted' (head node) from pid \(try await restarted.ping())")
        if !resume { try await ray.shutdown() }
        for round in 1...rounds {
            // No retries: it can only answer by finishing where it ran, through the head's absence.
            let running = resume ? $probe.options(resources: ["worker_node": 1], maxRetries: 0).remote(round, 0.3) : nil
            if running != nil {  // running at the kill (its worker may be starting first)
                _ = try await Self.untilAnswered {
                    guard try await ray.state.tasks().contains(where: { $0.name.contains("probe") && $0.state == .running }) else {
                        throw ValidationError("the probe is not running yet")
                    }
                }
            }
            let killed = ContinuousClock.now
            try cluster.killHead()
            if postgres { try FileManager.default.removeItem(atPath: cluster.folders[0]) }
            try cluster.startHead()
            let headUp = ContinuousClock.now
            var resumedPart = ""
            if let running {
                let submitted = try await $probe.remote(round, 0).get(timeout: .seconds(60))
                let answered = ContinuousClock.now
                let carriedOn = try await running.get(timeout: .seconds(60))
                guard submitted == round, carriedOn == round else { throw ValidationError("wrong probe results") }
                resumedPart = "driver resumed, a task sent during the outage answered \(String(format: "%.0f ms", (answered - killed).seconds * 1000)), "
                    + "the task in flight at the kill answered (finished where it ran) \(String(format: "%.0f ms", (ContinuousClock.now - killed).seconds * 1000)); "
            } else {
                try await Ray.start(address: cluster.address, token: cluster.token)
            }
            let pid = try await Self.untilAnswered { try await ray.getActor(Keeper.self, name: "kept").ping() }
            guard pid == keptPID else { throw ValidationError("'kept' answered from pid \(pid), not its own \(keptPID)") }
            let reattached = ContinuousClock.now
            let sum = try await ray.getActor(Keeper.self, name: "kept").storedSum()
            guard sum == expectedSum else { throw ValidationError("'kept' read \(sum) from its stored object, not \(expectedSum)") }
            let newPID = try await Self.untilAnswered { try await ray.getActor(Keeper.self, name: "restarted").ping() }
            let restartedAt = ContinuousClock.now
            _ = try await Self.untilAnswered {
                guard try await ray.state.nodes().filter(\.alive).count == 2 else { throw ValidationError("a node is not back") }
            }
            let nodes = ContinuousClock.now
            func ms(_ at: ContinuousClock.Instant) -> String { String(format: "%.0f ms", (at - killed).seconds * 1000) }
            let restartedPart = "'restarted' answering (pid \(newPID)) \(ms(restartedAt)); "
            print("round \(round): head up \(ms(headUp)) after the kill\(postgres ? " (on an empty folder, state in PostgreSQL)" : ""); \(resumedPart)"
                  + "'kept' re-attached (same pid, its 8 MB object read back) \(ms(reattached)); \(restartedPart)both nodes back \(ms(nodes))")
            if !resume { try await ray.shutdown() }
        }
        if resume { try await ray.shutdown() }  // before the cluster stops
    }

    /// Retries `body` every 10 ms until it succeeds (for up to 60 s).
    private static func untilAnswered<T>(_ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do { return try await body() } catch where ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }
    }
}

/// Sleeps `seconds`, then returns `value` (a task to find running, or not, at a head's crash).
@Remote func probe(_ value: Int, _ seconds: Double) async throws -> Int {
    try await Task.sleep(for: .seconds(seconds))
    return value
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
