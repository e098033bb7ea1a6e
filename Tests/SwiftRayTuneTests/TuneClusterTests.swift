import Foundation
import RayTesting
import SwiftRay
import SwiftRayTune
import XCTest

/// Records its node, waits until both trials run (each node has one `slot`: so on different
/// nodes; a CPU would be lent out while the trial waits), then
/// reports 8 steps with a checkpoint at 3; trial 1's first run kills its own worker at step 6 (by
/// then, with a backpressure of one, the Tuner has taken report 4 and so the checkpoint at 3).
@Remote func spreadTrial(_ config: TrialConfig, arrivals: Queue<Int>, go: Queue<Int>) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        let id = session.config.int("id") ?? -1
        let resumedFrom = try session.checkpoint?.decode(Int.self) ?? 0
        if resumedFrom == 0 {
            try await ray.kv.put("tune-node-\(id)", value: ray.runtimeContext.nodeID)
            try await arrivals.put(id)
            _ = try await go.get()
        }
        for step in (resumedFrom + 1)...8 {
            if step == 6 && resumedFrom == 0 && id == 1 { kill(getpid(), SIGKILL) }
            try await session.report(["step": Double(step), "resumed_from": Double(resumedFrom)], checkpoint: step == 3 ? try Checkpoint(3) : nil)
        }
    }
}

/// Tune over a cluster of daemons: trials on every node, and a trial whose worker dies on another
/// node resumed from its checkpoint (which lives in the cluster, not on a shared disk).
final class TuneClusterTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    func testTrialsSpreadOverNodesAndAKilledTrialResumesFromItsCheckpoint() async throws {
        let cluster = try TestCluster(cpus: 1, resources: ["slot": 1])
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["slot": 1])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let arrivals = try await Queue<Int>(actorOptions: ActorOptions(numCPUs: 0)), go = try await Queue<Int>(actorOptions: ActorOptions(numCPUs: 0))
        let starter = Task {
            for _ in 0..<2 { _ = try await arrivals.get() }
            for _ in 0..<2 { try await go.put(1) }
        }
        defer { starter.cancel() }
        let results = try await Tuner(
            { config in $spreadTrial.options(resources: ["slot": 1], maxRetries: 0, generatorBackpressure: 1).remote(config, arrivals: arrivals, go: go) },
            paramSpace: ["id": .grid([0, 1])], tuneConfig: TuneConfig(maxFailures: 1)
        ).fit()
        XCTAssertTrue(results.errors.isEmpty, "\(results.errors)")
        let first = try await ray.kv.get("tune-node-0", as: String.self), second = try await ray.kv.get("tune-node-1", as: String.self)
        XCTAssertNotNil(first)
        XCTAssertNotEqual(first, second, "one trial per node")
        XCTAssertEqual(results[1].history.map { $0["training_iteration"] }, (1...8).map(Double.init), "iterations count on across the restart")
        XCTAssertEqual(results[1].history.last?["resumed_from"], 3, "resumed from the checkpoint at 3")
        XCTAssertEqual(results[0].history.last?["resumed_from"], 0)
    }
}
