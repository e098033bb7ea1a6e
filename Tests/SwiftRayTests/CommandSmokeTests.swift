import Foundation
import RayBenchmarks
import RayTesting
import SwiftRay
import XCTest

/// The benchmark and the examples run end to end (figures are not asserted: speed is measured in
/// release builds, not in tests).
final class CommandSmokeTests: XCTestCase {
    func testMicrobenchmarkRowsRunAndPrintRaysFormat() async throws {
        let lines = LineCollector()
        let timeit = Timeit(warmup: .milliseconds(20), trial: .milliseconds(50), trials: 1)
        let results = try await Microbenchmark(filter: "tasks sync", timeit: timeit, numCPUs: 2).run(print: lines.add)
        XCTAssertEqual(results.map(\.name), ["single client tasks sync"])
        XCTAssertGreaterThan(results[0].mean, 0)
        let line = try XCTUnwrap(lines.all.first)
        XCTAssertNotNil(line.range(of: #"^single client tasks sync per second [0-9.]+ \+- [0-9.]+$"#, options: .regularExpression), line)
        XCTAssertFalse(Ray.isInitialized, "the benchmark shuts its cluster down")

        let groups = try await Microbenchmark(filter: "placement group", timeit: timeit, numCPUs: 1).run(print: lines.add)
        XCTAssertEqual(groups.map(\.name), ["placement group create/removal"])
        XCTAssertTrue(lines.all.last?.hasPrefix("placement group create/removal per second") ?? false)
    }

    func testSeedExamplesRun() throws {
        let examples = Process()
        examples.executableURL = URL(fileURLWithPath: RayTesting.siblingExecutable("swiftray-examples"))
        examples.arguments = ["actors", "fibonacci", "pipeline", "retries", "resources", "tune", "serve", "rl", "data"]
        examples.environment = ProcessInfo.processInfo.environment.merging(["SWIFTRAY_SERVE_PORT": "0", "SWIFTRAY_RL_ITERATIONS": "0"]) { $1 }
        let output = Pipe()
        examples.standardOutput = output
        try examples.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        examples.waitUntilExit()
        XCTAssertEqual(examples.terminationStatus, 0, text)
        XCTAssertTrue(text.contains("[1, 2, 3, 4, 5]"), text)
        XCTAssertTrue(text.contains("fibonacci(10) = 55"), text)
        XCTAssertTrue(text.contains("succeeded on attempt 3"), text)
        XCTAssertTrue(text.contains("TaskUnschedulableError"), text)
        XCTAssertTrue(text.contains("Result(trial: trial_"), text)
        XCTAssertTrue(text.contains(#"{"prediction":4.75}"#), text)
        XCTAssertTrue(text.contains(#"I love how fast this is -> {"label":"POSITIVE""#), text)
        XCTAssertTrue(text.contains(#"slow and broken -> {"label":"NEGATIVE""#), text)
        // PPO builds, checkpoints and acts (no training iteration: a debug build learns slowly;
        // PPOTests trains it).
        XCTAssertTrue(text.contains("greedy action for an upright pole leaning right: discrete("), text)
        XCTAssertTrue(text.contains(#"{"file": 1, "count()": 3950, "sum(taxed)": 71100.0"#), text)
        XCTAssertTrue(text.contains("20 files summarised; 20 cleaned files written"), text)
    }
}

/// Lines printed by the benchmark, collected across threads.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    @Sendable func add(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
