import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Fills `megabytes` of memory (touched, so it is resident) and holds it for a minute; on a retry
/// with `onlyFirstAttempt` it returns -1 at once instead.
@Remote func hogMemory(_ megabytes: Int, onlyFirstAttempt: Bool) async throws -> Int {
    if onlyFirstAttempt, (ray.taskContext?.attempt ?? 0) > 0 { return -1 }
    let bytes = megabytes << 20
    let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    defer { memory.deallocate() }
    memset(memory, 1, bytes)
    try await Task.sleep(for: .seconds(60))
    return megabytes
}

@Remote func stillServing(_ value: Int) -> Int { value + 1 }

/// The memory monitor with real processes and real memory: the threshold is set just above what
/// this machine uses now, and a task that fills more than the margin is killed, retried when it
/// may be, and fails with `OutOfMemoryError` (naming the node and its memory use) when it may
/// not; the node keeps serving.
final class MemoryMonitorTests: XCTestCase {
    override func setUp() async throws {
        let (used, total) = try Self.machineMemory()
        let margin = Double(256 << 20)
        setenv("SWIFTRAY_MEMORY_USAGE_THRESHOLD", "\((used + margin) / total)", 1)
        setenv("SWIFTRAY_MEMORY_MONITOR_REFRESH_MS", "50", 1)
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        unsetenv("SWIFTRAY_MEMORY_USAGE_THRESHOLD")
        unsetenv("SWIFTRAY_MEMORY_MONITOR_REFRESH_MS")
        if Ray.isInitialized { try await ray.shutdown() }
    }

    /// Used and total bytes from /proc/meminfo (MemAvailable counted free).
    static func machineMemory() throws -> (used: Double, total: Double) {
        let text = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        func field(_ name: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { Double($0.split(separator: " ").dropFirst().first ?? "") }.map { $0 * 1024 }
        }
        guard let total = field("MemTotal"), let available = field("MemAvailable") else { throw XCTSkip("no /proc/meminfo") }
        return (total - available, total)
    }

    func testATaskWithoutRetriesFailsWithOutOfMemoryErrorAndTheNodeStaysUp() async throws {
        do {
            let value = try await $hogMemory.options(maxRetries: 0).remote(1024, onlyFirstAttempt: false).get(timeout: .seconds(50))
            XCTFail("the task should have been killed, returned \(value)")
        } catch let error as OutOfMemoryError {
            XCTAssertTrue(error.message.contains("memory monitor") && error.message.contains("%"), error.message)
            XCTAssertTrue(error.message.contains(ray.runtimeContext.nodeID), "the message names the node: \(error.message)")
        }
        let answer = try await $stillServing.remote(41).get(timeout: .seconds(30))
        XCTAssertEqual(answer, 42, "the node kept serving")
    }

    func testARetriableTaskIsRetriedAfterTheKill() async throws {
        let value = try await $hogMemory.options(maxRetries: 2).remote(1024, onlyFirstAttempt: true).get(timeout: .seconds(50))
        XCTAssertEqual(value, -1, "the first attempt was killed, the retry ran")
    }

    /// A worker node's daemon watches its own machine and the head kills the task there.
    func testAWorkerNodesMonitorReportsToTheHead() async throws {
        try await ray.shutdown()
        let threshold = ProcessInfo.processInfo.environment["SWIFTRAY_MEMORY_USAGE_THRESHOLD"] ?? "0.95"
        unsetenv("SWIFTRAY_MEMORY_USAGE_THRESHOLD")  // the head keeps the default
        let cluster = try TestCluster(cpus: 0)
        defer { cluster.shutdown() }
        try cluster.addNode(cpus: 1, environment: ["SWIFTRAY_MEMORY_USAGE_THRESHOLD": threshold, "SWIFTRAY_MEMORY_MONITOR_REFRESH_MS": "50"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        do {
            _ = try await $hogMemory.options(maxRetries: 0).remote(1024, onlyFirstAttempt: false).get(timeout: .seconds(50))
            XCTFail("the task should have been killed")
        } catch let error as OutOfMemoryError {
            XCTAssertTrue(error.message.contains("memory monitor"), error.message)
        }
        try await ray.shutdown()  // before the cluster goes
    }
}
