import Foundation
import RayTesting
import XCTest

/// Ray 2.60's own `ray job` CLI (from PyPI, unchanged) against a swift-ray head: submit with
/// followed logs, a failing job, stop, logs, list, delete, a working directory with environment
/// variables, a refused duplicate id. `.ci/run` installs it; `SWIFTRAY_RAY_CLI` names it.
final class RayCLICompatibilityTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws { cluster?.shutdown() }

    /// Ray's `ray` executable: `SWIFTRAY_RAY_CLI`, else where `.ci/run` installs it
    /// (`.build/python-oracles` in this package), else the virtual environment the benchmarks use.
    static var rayCLI: String? {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let installed = package.appendingPathComponent(".build/python-oracles/bin/ray").path
        let candidates = [ProcessInfo.processInfo.environment["SWIFTRAY_RAY_CLI"], installed, "/tmp/rayenv/bin/ray"].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func testRaysJobCLIDrivesASwiftRayHead() async throws {
        guard let ray = Self.rayCLI else {
            throw XCTSkip("Ray's CLI is not installed (.ci/run installs it; set SWIFTRAY_RAY_CLI)")
        }
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let address = try XCTUnwrap(cluster.dashboardURL)
        // Ray's clients send the cluster token this way; running a job needs it even on loopback.
        let auth = ["RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": cluster.token]
        func run(_ arguments: [String], token: Bool = true) throws -> (status: Int32, output: String) {
            try RayTesting.runProcess(
                ray, ["job"] + arguments, environment: ["RAY_ADDRESS": address, "RAY_USAGE_STATS_ENABLED": "0"].merging(token ? auth : [:]) { $1 })
        }

        let stranger = try run(["submit", "--no-wait", "--", "touch", "/tmp/should-not-exist"], token: false)
        XCTAssertNotEqual(stranger.status, 0)
        XCTAssertTrue(stranger.output.contains("401") || stranger.output.contains("token"), stranger.output)

        let ok = try run(["submit", "--submission-id", "py-ok", "--", "bash", "-c", "echo from-python"])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.output.contains("from-python") && ok.output.contains("Job 'py-ok' succeeded"), ok.output)

        let bad = try run(["submit", "--submission-id", "py-bad", "--", "bash", "-c", "echo broken; exit 5"])
        XCTAssertEqual(bad.status, 1, "Ray's CLI exits 1 for a failed job: \(bad.output)")
        let status = try run(["status", "py-bad"]).output
        XCTAssertTrue(status.contains("failed") && status.contains("exit code 5"), status)

        XCTAssertEqual(try run(["submit", "--no-wait", "--submission-id", "py-long", "--", "sleep", "300"]).status, 0)
        let stop = try run(["stop", "py-long"])
        XCTAssertEqual(stop.status, 0, stop.output)
        XCTAssertTrue(stop.output.contains("was stopped"), stop.output)

        XCTAssertTrue(try run(["logs", "py-ok"]).output.contains("from-python"))
        let list = try run(["list"]).output
        XCTAssertTrue(list.contains("py-ok") && list.contains("STOPPED") && list.contains("FAILED"), list)
        XCTAssertEqual(try run(["delete", "py-bad"]).status, 0)
        XCTAssertFalse(try run(["list"]).output.contains("py-bad"))

        let duplicate = try run(["submit", "--submission-id", "py-ok", "--", "true"])
        XCTAssertNotEqual(duplicate.status, 0)
        XCTAssertTrue(duplicate.output.contains("already exists"), duplicate.output)

        let folder = NSTemporaryDirectory() + "swiftray-ray-cli-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "packaged by ray\n".write(toFile: "\(folder)/note.txt", atomically: true, encoding: .utf8)
        let packaged = try run([
            "submit", "--working-dir", folder, "--runtime-env-json", #"{"env_vars": {"SETTING": "on"}}"#, "--",
            "bash", "-c", "cat note.txt; echo setting-$SETTING",
        ])
        XCTAssertEqual(packaged.status, 0, packaged.output)
        XCTAssertTrue(packaged.output.contains("packaged by ray") && packaged.output.contains("setting-on"), packaged.output)
    }
}
