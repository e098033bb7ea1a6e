import Foundation
import SwiftRay
import XCTest

@Remote func variable(_ name: String) -> String { ProcessInfo.processInfo.environment[name] ?? "unset" }

@Remote func variableAndPID(_ name: String) -> [String] {
    [ProcessInfo.processInfo.environment[name] ?? "unset", "\(getpid())"]
}

/// A child started without a runtime environment of its own: it inherits its parent's.
@Remote func childVariable(_ name: String) async throws -> String { try await ray.get($variable.remote(name)) }

@RayActor
distributed actor EnvironmentReader {
    distributed func read(_ name: String) -> String { ProcessInfo.processInfo.environment[name] ?? "unset" }
    distributed func file(_ path: String) -> String { readText(path) }
}

/// The text of `path` (relative to the worker's current directory), or "missing".
func readText(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? "missing"
}

/// `[contents of path, current directory, pid]`.
@Remote func fileWhereIRun(_ path: String) -> [String] {
    [readText(path), FileManager.default.currentDirectoryPath, "\(getpid())"]
}

/// Whether `path` is a folder and the permissions of `file`, in the worker's directory.
@Remote func kindsWhereIRun(_ folder: String, _ file: String) -> [String] {
    var isFolder: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder)
    let permissions = (try? FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? -1
    return [exists && isFolder.boolValue ? "folder" : "none", String(permissions, radix: 8)]
}

/// A folder of test files: `data.txt`, `sub/nested.txt`, an empty `empty/`, an executable `run.sh`.
func makeWorkingDirectory(_ marker: String) throws -> String {
    let root = NSTemporaryDirectory() + "swiftray-wd-\(marker)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
    try "data \(marker)".write(toFile: root + "/data.txt", atomically: true, encoding: .utf8)
    try "nested \(marker)".write(toFile: root + "/sub/nested.txt", atomically: true, encoding: .utf8)
    try "#!/bin/sh\n".write(toFile: root + "/run.sh", atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o750], ofItemAtPath: root + "/run.sh")
    // New contents every run, so no node has it unpacked from an earlier one.
    try "\(UInt64.random(in: 0...UInt64.max))".write(toFile: root + "/nonce.txt", atomically: true, encoding: .utf8)
    return root
}

/// Runtime environments' environment variables (Ray's `runtime_env={"env_vars": ...}`).
final class RuntimeEnvironmentTests: RayTestCase {
    func testATaskRunsWithItsVariablesInAWorkerOfItsOwn() async throws {
        let env = RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_MODE": "blue"])
        let with = try await ray.get($variableAndPID.options(runtimeEnv: env).remote("SWIFTRAY_TEST_MODE"))
        let without = try await ray.get($variableAndPID.remote("SWIFTRAY_TEST_MODE"))
        XCTAssertEqual(with[0], "blue")
        XCTAssertEqual(without[0], "unset")
        XCTAssertNotEqual(with[1], without[1], "different environments never share a worker")
        let other = try await ray.get(
            $variable.options(runtimeEnv: RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_MODE": "green"])).remote("SWIFTRAY_TEST_MODE"))
        XCTAssertEqual(other, "green")
        let inherited = try await ray.get($childVariable.options(runtimeEnv: env).remote("SWIFTRAY_TEST_MODE"))
        XCTAssertEqual(inherited, "blue", "a nested task inherits its parent's environment")
    }

    func testAnActorRunsWithItsVariables() async throws {
        let reader = try await ray.actor(
            EnvironmentReader.self, options: ActorOptions(runtimeEnv: RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_ROLE": "reader"])))
        let role = try await reader.read("SWIFTRAY_TEST_ROLE")
        XCTAssertEqual(role, "reader")
    }

    func testAWorkingDirectoryIsTheWorkersCurrentDirectory() async throws {
        let folder = try makeWorkingDirectory("one")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let env = RuntimeEnvironment(workingDir: folder)
        let seen = try await ray.get($fileWhereIRun.options(runtimeEnv: env).remote("data.txt"), timeout: .seconds(60))
        XCTAssertEqual(seen[0], "data one")
        XCTAssertTrue(seen[1].contains("/working_dirs/"), "a copy, not the folder itself: \(seen[1])")
        let nested = try await ray.get($fileWhereIRun.options(runtimeEnv: env).remote("sub/nested.txt"), timeout: .seconds(60))
        XCTAssertEqual(nested[0], "nested one")
        let kinds = try await ray.get($kindsWhereIRun.options(runtimeEnv: env).remote("empty", "run.sh"), timeout: .seconds(60))
        XCTAssertEqual(kinds, ["folder", "750"], "empty folders and permissions come along")
        let elsewhere = try await ray.get($fileWhereIRun.remote("data.txt"), timeout: .seconds(60))
        XCTAssertEqual(elsewhere[0], "missing")
        XCTAssertNotEqual(elsewhere[2], seen[2], "other environments run in other workers")

        // Another folder is another package, and an actor runs in its environment's folder too.
        let other = try makeWorkingDirectory("two")
        defer { try? FileManager.default.removeItem(atPath: other) }
        let reader = try await ray.actor(EnvironmentReader.self, options: ActorOptions(runtimeEnv: RuntimeEnvironment(workingDir: other)))
        let read = try await reader.file("data.txt")
        XCTAssertEqual(read, "data two")
    }

    func testABadWorkingDirectoryIsAClearError() async throws {
        let missing = NSTemporaryDirectory() + "swiftray-no-such-folder-\(getpid())"
        let error = await expectError(RaySystemError.self) {
            try await ray.get($fileWhereIRun.options(runtimeEnv: RuntimeEnvironment(workingDir: missing)).remote("x"), timeout: .seconds(60))
        }
        XCTAssertTrue(error?.message.contains("cannot read the working directory") ?? false, "\(String(describing: error))")

        let big = try makeWorkingDirectory("big")
        defer { try? FileManager.default.removeItem(atPath: big) }
        try Data(count: 2 << 20).write(to: URL(fileURLWithPath: big + "/large.bin"))
        setenv("SWIFTRAY_WORKING_DIR_MAX_MB", "1", 1)
        defer { unsetenv("SWIFTRAY_WORKING_DIR_MAX_MB") }
        let tooLarge = await expectError(RaySystemError.self) {
            try await ray.actor(EnvironmentReader.self, options: ActorOptions(runtimeEnv: RuntimeEnvironment(workingDir: big)))
        }
        XCTAssertTrue(tooLarge?.message.contains("the limit") ?? false, "\(String(describing: tooLarge))")
        try await ray.shutdown()
        let atStart = await expectError(RaySystemError.self) {
            try await Ray.start(numCPUs: 1, includeDashboard: false, runtimeEnv: RuntimeEnvironment(workingDir: big))
        }
        XCTAssertNotNil(atStart, "a job whose folder is too large does not start")
        XCTAssertFalse(Ray.isInitialized)
    }

    func testTheJobsEnvironmentReachesEveryTaskAndATaskCanOverrideIt() async throws {
        try await ray.shutdown()
        try await Ray.start(
            numCPUs: 2, includeDashboard: false, runtimeEnv: RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_JOB": "job", "SWIFTRAY_TEST_MODE": "a"]))
        let job = try await ray.get($variable.remote("SWIFTRAY_TEST_JOB"))
        XCTAssertEqual(job, "job")
        let overridden = try await ray.get(
            $variable.options(runtimeEnv: RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_MODE": "b"])).remote("SWIFTRAY_TEST_MODE"))
        XCTAssertEqual(overridden, "b")
        let kept = try await ray.get(
            $variable.options(runtimeEnv: RuntimeEnvironment(envVars: ["SWIFTRAY_TEST_MODE": "b"])).remote("SWIFTRAY_TEST_JOB"))
        XCTAssertEqual(kept, "job", "a task's environment adds to the job's")
        try await ray.shutdown()
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        let reset = try await ray.get($variable.remote("SWIFTRAY_TEST_JOB"))
        XCTAssertEqual(reset, "unset", "the next job starts without it")
    }
}
