import Foundation
import RayTesting
import SwiftRay
import Synchronization
import XCTest

/// A detached actor the chaos suite keeps across head crashes.
@RayActor
distributed actor Ledger {
    var entries = 0

    distributed func record() -> Int {
        entries += 1
        return entries
    }
}

/// What a workload saw acknowledged before its head died.
final class Acknowledged: Sendable {
    let keys = Mutex<[String]>([])
}

/// The chaos suite's head kill (issue 22, item 3): the head of a two-node cluster SIGKILLed in the
/// middle of a workload of key-value writes and tasks, then restarted on the same folder.
final class HeadChaosTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    /// The workload's driver keeps its session through the crash and carries on with the restarted
    /// head; every acknowledged write is there (in the session and in a new one), the detached actor
    /// answers under its name, both nodes are back and run tasks.
    func testAHeadKilledMidWorkloadLosesNothingAcknowledged() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["worker-node": 1])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let ledger = try await ray.actor(Ledger.self, options: ActorOptions(maxRestarts: -1, name: "ledger", lifetime: .detached))
        _ = try await ledger.record()

        let acknowledged = Acknowledged()
        let target = Mutex(Int.max)
        let workload = Task {
            var squares = 0
            for index in 0..<1_000_000 {
                if index >= target.withLock({ $0 }) { break }
                let key = "entry-\(index)"
                _ = try await ray.kv.put(key, Array(key.utf8), namespace: "chaos")
                acknowledged.keys.withLock { $0.append(key) }
                if index % 10 == 0 {
                    let square = try await $chaosSquare.remote(index).get(timeout: .seconds(60))
                    if square == index * index { squares += 1 }
                }
            }
            return squares
        }
        let midway = await RayTesting.eventually(timeout: .seconds(60)) { acknowledged.keys.withLock { $0.count } >= 300 }
        XCTAssertTrue(midway, "the workload ran")
        try cluster.restartHead()
        let killed = ContinuousClock.now
        let atKill = acknowledged.keys.withLock { $0.count }
        let resumed = await RayTesting.eventually(timeout: .seconds(60)) { acknowledged.keys.withLock { $0.count } >= atKill + 300 }
        XCTAssertTrue(resumed, "the workload carried on with the restarted head")
        XCTAssertLessThan(ContinuousClock.now - killed, .seconds(30))
        target.withLock { $0 = acknowledged.keys.withLock { $0.count } + 1 }
        let squares = try await workload.value
        let done = acknowledged.keys.withLock { $0.count }
        XCTAssertEqual(squares, (done + 9) / 10, "every task's result right, through the crash")
        let inSession = Set(try await ray.kv.keys(namespace: "chaos"))
        XCTAssertTrue(inSession.isSuperset(of: acknowledged.keys.withLock { $0 }), "the resumed session sees every acknowledged write")

        try await ray.shutdown()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let written = acknowledged.keys.withLock { $0 }
        let kept = Set(try await ray.kv.keys(namespace: "chaos"))
        XCTAssertTrue(kept.isSuperset(of: written), "\(Set(written).subtracting(kept).count) acknowledged writes lost")
        let last = try XCTUnwrap(written.last)
        let value = try await ray.kv.get(last, namespace: "chaos")
        XCTAssertEqual(value, Array(last.utf8))
        let found = try await ray.getActor(Ledger.self, name: "ledger")
        let entries = try await found.record()
        XCTAssertEqual(entries, 1, "the detached actor is back (restarted) under its name")
        let back = try await RayTesting.eventually(timeout: .seconds(30)) { try await ray.state.nodes().filter(\.alive).count == 2 }
        XCTAssertTrue(back, "both nodes rejoined")
        let remote = try await ray.get($chaosSquare.options(resources: ["worker-node": 0.5]).remote(9), timeout: .seconds(60))
        XCTAssertEqual(remote, 81, "the worker node runs tasks again")
    }
}

@Remote func chaosSquare(_ x: Int) -> Int { x * x }
