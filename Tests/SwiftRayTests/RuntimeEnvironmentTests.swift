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
