import Foundation
import RayChaos
import RayTesting
import SwiftRay
import XCTest

@Remote func fuzzSquare(_ x: Int) -> Int { x * x }

/// The fuzz suite (issue 22, item 4): every listening port of a real cluster (the head's cluster
/// port, object servers, dashboard, health ports) and of an embedded cluster takes tens of
/// thousands of seeded inputs, idle floods and slow readers; afterwards every process is alive,
/// back to its descriptors and near its memory, and the cluster serves.
final class PortFuzzTests: XCTestCase {
    /// Inputs per port (`SWIFTRAY_FUZZ_INPUTS` raises it; `swiftray-chaos fuzz` runs a million).
    static let inputs = ProcessInfo.processInfo.environment["SWIFTRAY_FUZZ_INPUTS"].flatMap(Int.init) ?? 20_000
    static let seed: UInt64 = ProcessInfo.processInfo.environment["SWIFTRAY_FUZZ_SEED"].flatMap(UInt64.init) ?? 22
    /// The servers' idle-connection timeout in these tests (10 s by default): the floods wait for it.
    static let idleTimeout = ["SWIFTRAY_IDLE_CONNECTION_TIMEOUT_S": "2"]

    func testEveryPortOfAClusterTakesFuzzAndKeepsServing() async throws {
        let cluster = try TestCluster(cpus: 1, headArguments: ["--health-port", "0"], environment: Self.idleTimeout)
        defer { cluster.shutdown() }
        try cluster.addNode(cpus: 1, arguments: ["--health-port", "0"], environment: Self.idleTimeout)
        let dashboard = try XCTUnwrap(cluster.dashboardURL)
        let joined = await RayTesting.eventually(timeout: .seconds(20)) { self.aliveNodes(dashboard) == 2 }
        XCTAssertTrue(joined, "two nodes")
        let processes = try cluster.folders.map { try cluster.daemonPID($0) }
        let clusterPort = try XCTUnwrap(cluster.address.split(separator: ":").last.flatMap { UInt16($0) })
        var targets: [PortFuzzer] = []
        for pid in processes {
            for port in ProcessVitals.listeningPorts(of: pid) {
                targets.append(PortFuzzer(port: port, speaks: FuzzProtocol.guess(port, clusterPort: clusterPort, token: cluster.token), seed: Self.seed &+ UInt64(port)))
            }
        }
        // Head: cluster port, object server, dashboard, health; node: object server, health.
        XCTAssertEqual(targets.count, 6, "\(targets.map { ($0.port, $0.speaks) })")
        let baseline = processes.map { ProcessVitals.of($0)! }

        // The health ports are the dashboard's Hummingbird stack again: a quarter of the inputs.
        let dashboardPort = UInt16(URL(string: dashboard)?.port ?? 0)
        let share: @Sendable (PortFuzzer) -> Int = { target in target.speaks.isHTTP && target.port != dashboardPort ? Self.inputs / 4 : Self.inputs }
        let reports = await Self.fuzz(targets, inputs: share)
        for report in reports {
            let sent = share(targets.first { $0.port == report.port }!)
            XCTAssertEqual(report.inputs, sent)
            XCTAssertLessThan(report.refused, sent / 100, "\(report)")
            print("fuzz: \(report)")
        }
        try await floodAndCheck(targets, token: cluster.token, clusterPort: clusterPort)

        for (pid, before) in zip(processes, baseline) {
            try await Self.expectBack(pid, to: before)
        }
        XCTAssertEqual(aliveNodes(dashboard), 2, "both nodes still in the cluster")
        XCTAssertTrue(try cluster.run(["status", "--address", cluster.address, "--token", cluster.token]).contains("Active:"))
    }

    func testAnEmbeddedClustersPortsTakeFuzzAndItKeepsRunningTasks() async throws {
        let folder = NSTemporaryDirectory() + "swiftray-fuzz-\(getpid())"
        setenv("SWIFTRAY_TEMP_DIR", folder, 1)
        for (name, value) in Self.idleTimeout { setenv(name, value, 1) }
        defer {
            unsetenv("SWIFTRAY_TEMP_DIR")
            for name in Self.idleTimeout.keys { unsetenv(name) }
            try? FileManager.default.removeItem(atPath: folder)
        }
        try await Ray.start(numCPUs: 1, dashboardPort: 0)
        defer { Task { try? await ray.shutdown() } }
        let token = try String(contentsOfFile: "\(folder)/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let address = try String(contentsOfFile: "\(folder)/head_address", encoding: .utf8)
        let clusterPort = try XCTUnwrap(address.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last.flatMap { UInt16($0) })
        let squared = try await ray.get($fuzzSquare.remote(7))
        XCTAssertEqual(squared, 49)
        let before = try XCTUnwrap(ProcessVitals.of(getpid()))
        // This process's own ports: the embedded cluster port and the dashboard.
        let targets = ProcessVitals.listeningPorts(of: getpid()).map {
            PortFuzzer(port: $0, speaks: FuzzProtocol.guess($0, clusterPort: clusterPort, token: token), seed: Self.seed &+ UInt64($0))
        }
        XCTAssertEqual(targets.count, 2, "\(targets.map(\.port))")
        // A quarter of the inputs: the same servers as the head's (taken the full count in the
        // test above); what this adds is that they run inside the driver.
        for report in await Self.fuzz(targets, inputs: { _ in Self.inputs / 4 }) {
            XCTAssertEqual(report.inputs, Self.inputs / 4)
            print("fuzz: \(report)")
        }
        try await floodAndCheck(targets, token: token, clusterPort: clusterPort)
        try await Self.expectBack(getpid(), to: before)
        let refs = (0..<100).map { $fuzzSquare.remote($0) }
        let squares = try await ray.get(refs)
        XCTAssertEqual(squares, (0..<100).map { $0 * $0 })
        try await ray.shutdown()
    }

    // MARK: Helpers

    /// Idle connections (silent, and with a frame or request begun) and slow readers on every
    /// port at once: each idle one is closed within the (2 s) idle timeout (or refused over the cap).
    private func floodAndCheck(_ targets: [PortFuzzer], token: String, clusterPort: UInt16) async throws {
        let outcomes = await withTaskGroup(of: (UInt16, ConnectionFloods.IdleOutcome).self) { group in
            for target in targets {
                let begun: [UInt8] = if case .http = target.speaks { Array("GET /api/nodes HTTP/1.1\r\nHost:".utf8) } else { [0, 0, 1, 0, 2] }
                for (count, preamble) in [(400, [UInt8]()), (100, begun)] {
                    group.addTask {
                        await FuzzProtocol.offPool {
                            (target.port, ConnectionFloods.idle(port: target.port, count: count, preamble: preamble, wait: .seconds(25)))
                        }
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (port, outcome) in outcomes {
            print("idle flood on port \(port): \(outcome)")
            XCTAssertEqual(outcome.closed, outcome.opened, "port \(port): \(outcome)")
            XCTAssertLessThan(outcome.lastClosed, .seconds(8), "port \(port): \(outcome)")
        }
        let held = try await withThrowingTaskGroup(of: (UInt16, Int).self) { group in
            for target in targets {
                let requests: [UInt8] = if case .http(let token) = target.speaks {
                    FuzzProtocol.httpRequests(path: "/api/state", token: token, count: 200)
                } else if target.port == clusterPort {
                    FuzzProtocol.clientRequests(token: token, count: 2000)
                } else {
                    Array(repeating: 0xAB, count: 8 << 10)
                }
                group.addTask { (target.port, try await ConnectionFloods.slowReaders(port: target.port, count: 20, requests: requests, hold: .seconds(1))) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (port, count) in held { XCTAssertGreaterThan(count, 0, "port \(port) took slow readers") }
    }

    /// Runs each fuzzer on its own threads, all ports at once.
    private static func fuzz(_ targets: [PortFuzzer], inputs: @escaping @Sendable (PortFuzzer) -> Int) async -> [FuzzReport] {
        await withTaskGroup(of: FuzzReport.self) { group in
            for target in targets {
                group.addTask { await FuzzProtocol.offPool { target.run(inputs(target), connections: 4) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// `pid` is alive, its descriptors come back to the baseline (within 2: a log file opened
    /// meanwhile) and its memory stays within 128 MiB of it.
    private static func expectBack(_ pid: Int32, to baseline: ProcessVitals, file: StaticString = #filePath, line: UInt = #line) async throws {
        let settled = await ProcessVitals.settled(pid, to: baseline)
        let now = try XCTUnwrap(settled, "process \(pid) is alive", file: file, line: line)
        print("process \(pid): \(baseline) before, \(now) after")
        XCTAssertLessThanOrEqual(now.descriptors, baseline.descriptors + 2, "process \(pid): \(now) vs \(baseline) before", file: file, line: line)
        XCTAssertLessThan(now.residentBytes, baseline.residentBytes + (128 << 20), "process \(pid)", file: file, line: line)
    }

    private func aliveNodes(_ dashboard: String) -> Int {
        guard let data = try? Data(contentsOf: URL(string: "\(dashboard)/api/nodes")!),
              let nodes = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return -1 }
        return nodes.filter { ($0["alive"] as? Bool) == true }.count
    }
}
