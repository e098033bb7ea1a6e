import Foundation
import RayTesting
import XCTest

/// Jobs on a real head (`swiftray start --head`): submitted, followed, stopped and deleted with
/// `swiftray job`, their records surviving a head restart, and shown by the state API.
final class JobSubmissionTests: XCTestCase {
    var cluster: TestCluster?
    var scratch = ""

    override func setUp() async throws {
        scratch = NSTemporaryDirectory() + "swiftray-jobs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        cluster?.shutdown()
        try? FileManager.default.removeItem(atPath: scratch)
    }

    private func start() throws -> TestCluster {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        return cluster
    }

    /// `swiftray job ARGS` against the cluster's head; its exit status and output.
    private func job(_ cluster: TestCluster, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try RayTesting.runProcess(cluster.command, ["job", arguments[0], "--temp-dir", cluster.folders[0]] + arguments.dropFirst())
    }

    private func status(_ cluster: TestCluster, _ id: String) throws -> String {
        try job(cluster, ["status", id]).output
    }

    func testSubmitFollowsTheJobAndExitsWithItsOutcome() async throws {
        let cluster = try start()
        let ok = try job(cluster, ["submit", "--submission-id", "ok-1", "--", "echo hello-$SWIFTRAY_JOB_SUBMISSION_ID"])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.output.contains("hello-ok-1"), "the output is followed: \(ok.output)")
        XCTAssertTrue(ok.output.contains("Job 'ok-1' succeeded"), ok.output)

        let bad = try job(cluster, ["submit", "--submission-id", "bad-1", "--", "echo going wrong; exit 3"])
        XCTAssertEqual(bad.status, 3, "submit exits with the job's exit code: \(bad.output)")
        let failed = try status(cluster, "bad-1")
        XCTAssertTrue(failed.contains("FAILED") && failed.contains("exit code 3") && failed.contains("going wrong"), failed)

        let duplicate = try job(cluster, ["submit", "--submission-id", "ok-1", "--", "true"])
        XCTAssertNotEqual(duplicate.status, 0)
        XCTAssertTrue(duplicate.output.contains("already exists"), duplicate.output)

        let list = try job(cluster, ["list"]).output
        XCTAssertTrue(list.contains("ok-1") && list.contains("bad-1") && list.contains("SUCCEEDED"), list)
        let state = try cluster.run(["list", "jobs", "--temp-dir", cluster.folders[0]])
        XCTAssertTrue(state.contains("ok-1") && state.contains("SUBMISSION"), "jobs are in the state API: \(state)")

        XCTAssertEqual(try job(cluster, ["delete", "bad-1"]).status, 0)
        let gone = try job(cluster, ["status", "bad-1"])
        XCTAssertNotEqual(gone.status, 0)
        XCTAssertTrue(gone.output.contains("404") && gone.output.contains("does not exist"), gone.output)
    }

    func testStopEndsTheWholeProcessTreeWithinThreeSeconds() async throws {
        let cluster = try start()
        let pidFile = "\(scratch)/child.pid"
        // A child that ignores SIGTERM: only the SIGKILL after the grace period ends it.
        let command = "(trap '' TERM; exec sleep 300) & echo $! > \(pidFile); wait"
        let submitted = try job(cluster, ["submit", "--no-wait", "--submission-id", "long-1", "--", command])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let started = await RayTesting.eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: pidFile) }
        XCTAssertTrue(started)
        let child = try XCTUnwrap(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(kill(child, 0), 0, "the job's child runs")
        let stopStart = ContinuousClock.now
        let stop = try job(cluster, ["stop", "long-1"])
        XCTAssertEqual(stop.status, 0, stop.output)
        let dead = await RayTesting.eventually(timeout: .seconds(5)) { kill(child, 0) != 0 }
        let elapsed = ContinuousClock.now - stopStart
        XCTAssertTrue(dead, "the SIGTERM-ignoring child was killed")
        XCTAssertLessThan(elapsed, .seconds(3), "stopped within 3 s")
        XCTAssertTrue(try status(cluster, "long-1").contains("STOPPED"))
        let again = try job(cluster, ["stop", "long-1"])
        XCTAssertTrue(again.output.contains("was not running"), again.output)
    }

    /// Entrypoint resources are set aside while a job runs: a second job needing the head's only
    /// CPU stays PENDING until the first ends (and can be stopped while it waits); resources no node
    /// could ever hold fail the job with a message saying so.
    func testEntrypointResourcesAreSetAsideWhileTheJobRuns() async throws {
        let cluster = try start()
        let flag = "\(scratch)/release"
        let first = try job(cluster, ["submit", "--no-wait", "--submission-id", "hold-1", "--entrypoint-num-cpus", "1", "--",
                                      "while [ ! -f \(flag) ]; do sleep 0.05; done"])
        XCTAssertEqual(first.status, 0, first.output)
        let running = try await RayTesting.eventually(timeout: .seconds(20)) { try self.status(cluster, "hold-1").contains("RUNNING") }
        XCTAssertTrue(running)
        let groups = try cluster.run(["list", "placement-groups", "--temp-dir", cluster.folders[0]])
        XCTAssertTrue(groups.contains("job hold-1 entrypoint"), "the reservation is a placement group: \(groups)")

        XCTAssertEqual(try job(cluster, ["submit", "--no-wait", "--submission-id", "wait-2", "--entrypoint-num-cpus", "1", "--", "echo second-ran"]).status, 0)
        XCTAssertEqual(try job(cluster, ["submit", "--no-wait", "--submission-id", "wait-3", "--entrypoint-num-cpus", "1", "--", "echo never"]).status, 0)
        XCTAssertTrue(try status(cluster, "wait-2").contains("PENDING"), "no CPU is free for it while hold-1 runs")
        XCTAssertEqual(try job(cluster, ["stop", "wait-3"]).status, 0)
        XCTAssertTrue(try status(cluster, "wait-3").contains("STOPPED"), "a job waiting for its resources can be stopped")

        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        let second = try await RayTesting.eventually(timeout: .seconds(20)) { try self.status(cluster, "wait-2").contains("SUCCEEDED") }
        XCTAssertTrue(second, "the second job ran once the first gave its CPU back")
        XCTAssertTrue(try job(cluster, ["logs", "wait-2"]).output.contains("second-ran"))
        XCTAssertFalse(try job(cluster, ["logs", "wait-3"]).output.contains("never"))

        XCTAssertEqual(try job(cluster, ["submit", "--no-wait", "--submission-id", "never-4", "--entrypoint-resources", #"{"no-such-thing": 1}"#, "--", "true"]).status, 0)
        let failed = try await RayTesting.eventually(timeout: .seconds(20)) { try self.status(cluster, "never-4").contains("FAILED") }
        XCTAssertTrue(failed)
        let message = try status(cluster, "never-4")
        XCTAssertTrue(message.contains("cannot be set aside") && message.contains("no-such-thing"), message)
    }

    /// A job whose entrypoint resources only a worker node has runs there: its daemon starts the
    /// entrypoint in its own folder with the uploaded working directory, streams its output to the
    /// head, stops it when asked, and a job whose node dies fails.
    func testEntrypointRunsOnTheNodeHoldingItsResources() async throws {
        let cluster = try start()
        try cluster.addNode(cpus: 1, resources: ["special": 1])
        let node = cluster.folders[1]
        let app = "\(scratch)/app"
        try FileManager.default.createDirectory(atPath: app, withIntermediateDirectories: true)
        try "shipped-file".write(toFile: "\(app)/hello.txt", atomically: true, encoding: .utf8)
        let special = #"{"special": 1}"#
        let ran = try job(cluster, ["submit", "--submission-id", "there-1", "--entrypoint-resources", special, "--working-dir", app, "--",
                                    "pwd; cat hello.txt; echo; echo node=$SWIFTRAY_NODE_ID"])
        XCTAssertEqual(ran.status, 0, ran.output)
        XCTAssertTrue(ran.output.contains(node), "it ran in the node's folder: \(ran.output)")
        XCTAssertTrue(ran.output.contains("shipped-file"), "with the working directory: \(ran.output)")
        XCTAssertTrue(try status(cluster, "there-1").contains("SUCCEEDED"))

        XCTAssertEqual(try job(cluster, ["submit", "--no-wait", "--submission-id", "there-2", "--entrypoint-resources", special, "--", "sleep 300"]).status, 0)
        let running = try await RayTesting.eventually(timeout: .seconds(20)) { try self.status(cluster, "there-2").contains("RUNNING") }
        XCTAssertTrue(running)
        XCTAssertEqual(try job(cluster, ["stop", "there-2"]).status, 0)
        let stopped = try await RayTesting.eventually(timeout: .seconds(5)) { try self.status(cluster, "there-2").contains("STOPPED") }
        let stoppedStatus = try status(cluster, "there-2")
        XCTAssertTrue(stopped, stoppedStatus)

        XCTAssertEqual(try job(cluster, ["submit", "--no-wait", "--submission-id", "there-3", "--entrypoint-resources", special, "--", "sleep 300"]).status, 0)
        let again = try await RayTesting.eventually(timeout: .seconds(20)) { try self.status(cluster, "there-3").contains("RUNNING") }
        XCTAssertTrue(again)
        cluster.stopNode(node)
        let failed = try await RayTesting.eventually(timeout: .seconds(20)) { try self.status(cluster, "there-3").contains("FAILED") }
        let failedStatus = try status(cluster, "there-3")
        XCTAssertTrue(failed, "a job whose node went away fails: \(failedStatus)")
    }

    func testWorkingDirectoryAndEnvironmentVariables() async throws {
        let cluster = try start()
        let folder = "\(scratch)/app"
        try FileManager.default.createDirectory(atPath: "\(folder)/data", withIntermediateDirectories: true)
        try "from the working dir\n".write(toFile: "\(folder)/data/input.txt", atomically: true, encoding: .utf8)
        let result = try job(cluster, [
            "submit", "--working-dir", folder, "--runtime-env-json", #"{"env_vars": {"GREETING": "hi there"}}"#,
            "--metadata-json", #"{"owner": "tests"}"#, "--submission-id", "wd-1", "--", "cat data/input.txt; echo $GREETING",
        ])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("from the working dir") && result.output.contains("hi there"), result.output)
        let dashboard = try XCTUnwrap(cluster.dashboardURL)
        let details = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(string: "\(dashboard)/api/jobs/wd-1")!)) as? [String: Any]
        XCTAssertEqual((details?["metadata"] as? [String: String])?["owner"], "tests")
        XCTAssertEqual(details?["driver_exit_code"] as? Int, 0)
        XCTAssertTrue((details?["runtime_env"] as? [String: Any])?["working_dir"].map { "\($0)".hasPrefix("gcs://_ray_pkg_") } ?? false)
        let missing = try job(cluster, ["submit", "--working-dir", "\(scratch)/nowhere", "--", "true"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("is not a folder"), missing.output)
    }

    func testRecordsAndRunningJobsSurviveAHeadRestart() async throws {
        let cluster = try start()
        XCTAssertEqual(try job(cluster, ["submit", "--submission-id", "done-1", "--", "echo finished"]).status, 0)
        let gate = "\(scratch)/gate", running = "\(scratch)/running"
        let command = "touch \(running); while [ ! -f \(gate) ]; do sleep 0.05; done; echo released; exit 4"
        XCTAssertEqual(try job(cluster, ["submit", "--no-wait", "--submission-id", "across-1", "--", command]).status, 0)
        let started = await RayTesting.eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: running) }
        XCTAssertTrue(started)
        try cluster.restartHead()
        XCTAssertTrue(try status(cluster, "done-1").contains("SUCCEEDED"), "a finished job's record survived")
        XCTAssertTrue(try status(cluster, "across-1").contains("RUNNING"), "the running job is watched again")
        _ = FileManager.default.createFile(atPath: gate, contents: Data())
        let ended = try await RayTesting.eventually(timeout: .seconds(20), every: .milliseconds(100)) {
            try self.status(cluster, "across-1").contains("FAILED")
        }
        XCTAssertTrue(ended)
        let final = try status(cluster, "across-1")
        XCTAssertTrue(final.contains("exit code 4"), "the exit code is read back after the restart: \(final)")
        XCTAssertTrue(try job(cluster, ["logs", "across-1"]).output.contains("released"))
    }
}
