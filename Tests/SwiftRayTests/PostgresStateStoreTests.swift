import Foundation
import RayTesting
import SwiftRay
import XCTest

/// The head's state in PostgreSQL (`--state-store postgres://...`), for heads whose machine can be
/// lost: a real server (Debian's postgresql, started by the test on a Unix socket) takes the
/// key-value store and the detached actors, and a restarted head reads them back from it.
final class PostgresStateStoreTests: XCTestCase {
    var cluster: TestCluster?
    var postgres: TestPostgres?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
        postgres?.stop()
    }

    func testARestartedHeadRecoversItsStateFromPostgreSQL() async throws {
        let postgres = try TestPostgres()
        self.postgres = postgres
        let cluster = try TestCluster(cpus: 1, headArguments: ["--state-store", postgres.url])
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["survivor": 1], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        for index in 0..<30 { _ = try await ray.kv.put("entry-\(index)", [UInt8(index)], namespace: "pg") }
        _ = try await ray.kv.put("scratch", [9])
        _ = try await ray.kv.delete("scratch")
        let kept = try await ray.actor(Counter.self, options: ActorOptions(resources: ["survivor": 1], name: "pg-kept", lifetime: .detached))
        _ = try await kept.add(7)
        let restarted = try await ray.actor(Counter.self, options: ActorOptions(maxRestarts: 2, name: "pg-restarted", lifetime: .detached))
        _ = try await restarted.add(3)
        try await ray.shutdown()
        let submitted = try RayTesting.runProcess(cluster.command, ["job", "submit", "--temp-dir", cluster.folders[0], "--submission-id", "pg-job", "--", "echo done"])
        XCTAssertEqual(submitted.status, 0, submitted.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(cluster.folders[0])/head_state.sqlite"), "nothing on the head's disk")

        try cluster.restartHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let keys = try await ray.kv.keys(namespace: "pg")
        XCTAssertEqual(keys.count, 30)
        let last = try await ray.kv.get("entry-29", namespace: "pg")
        XCTAssertEqual(last, [29])
        let scratch = try await ray.kv.get("scratch")
        XCTAssertNil(scratch, "a deleted key stays deleted")
        let survivor = try await ray.getActor(Counter.self, name: "pg-kept").increment()
        XCTAssertEqual(survivor, 8, "the worker node's actor re-attached with its state")
        let fresh = try await ray.getActor(Counter.self, name: "pg-restarted").getValue()
        XCTAssertEqual(fresh, 0, "the head node's actor restarted")
        try await ray.shutdown()

        // A clean stop keeps it (a head pod moved by Kubernetes is stopped with SIGTERM), and a head
        // started on a fresh disk (its folder gone, as with its machine) recovers it.
        _ = try cluster.run(["stop", "--temp-dir", cluster.folders[0]])
        try FileManager.default.removeItem(atPath: cluster.folders[0])
        try cluster.startHead()
        // The job's binary was on the lost disk: the worker node hands its copy back, before any
        // driver of that job connects, and the head node's actor restarts with it.
        let fetched = await RayTesting.eventually(timeout: .seconds(30), every: .milliseconds(50)) {
            let logs = "\(cluster.folders[0])/logs"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: logs)) ?? []
            return names.filter { $0.hasPrefix("head-") }.contains { name in
                ((try? String(contentsOfFile: "\(logs)/\(name)", encoding: .utf8)) ?? "").contains("fetched back from node")
            }
        }
        XCTAssertTrue(fetched, "the head fetched the job's binary back from the worker node")
        try await Ray.start(address: cluster.address, token: cluster.token)
        let again = try await ray.getActor(Counter.self, name: "pg-restarted").getValue()
        XCTAssertEqual(again, 0, "the head node's actor restarted on the moved head")
        let after = try await ray.kv.keys(namespace: "pg")
        XCTAssertEqual(after.count, 30)
        let moved = try await ray.getActor(Counter.self, name: "pg-kept").increment()
        XCTAssertEqual(moved, 9, "the worker node's actor re-attached to the moved head")
        let job = try RayTesting.runProcess(cluster.command, ["job", "status", "--temp-dir", cluster.folders[0], "pg-job"])
        XCTAssertTrue(job.output.contains("SUCCEEDED"), "the job's record moved with the state: \(job.output)")
    }

    func testRefsInsideAnObjectKeptOnASurvivingNodeKeepTheirObjectsWithPostgreSQL() async throws {
        let postgres = try TestPostgres()
        self.postgres = postgres
        let cluster = try TestCluster(cpus: 1, headArguments: ["--state-store", postgres.url])
        self.cluster = cluster
        try await HeadRecoveryChecks.refsInsideKeptObjectsSurvive(cluster)
    }

    func testAnUnreachableDatabaseIsReportedAndTheHeadRunsWithout() async throws {
        let folder = NSTemporaryDirectory() + "swiftray-no-pg-\(getpid())"
        let cluster = try TestCluster(cpus: 1, headArguments: ["--state-store", "postgres://postgres@/postgres?host=\(folder)"])
        self.cluster = cluster
        let logs = "\(cluster.folders[0])/logs"
        let name = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: logs).first { $0.hasPrefix("head-") })
        let log = try String(contentsOfFile: "\(logs)/\(name)", encoding: .utf8)
        XCTAssertTrue(log.contains("the head's state store postgres://postgres@/postgres?host=\(folder) cannot be used"), log)
        try await Ray.start(address: cluster.address, token: cluster.token)
        let value = try await ray.get($whereAmI.remote(), timeout: .seconds(60))
        XCTAssertFalse(value.isEmpty, "the head serves without its store")
    }
}
