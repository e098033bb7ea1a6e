@testable import RayNode
import RayWire
import XCTest

/// Actors by name per namespace, names freed by death only, and the resource wait list.
final class ActorDirectoryTests: XCTestCase {
    private func record(_ n: UInt64, name: String = "", namespace: String = "ns") -> ActorRecord {
        let spec = ActorSpec(
            actorID: RayID(high: 3, low: n), typeID: "T", className: "Counter", initializer: "init", args: [],
            resources: [:], maxRestarts: 0, maxTaskRetries: 0, maxConcurrency: 1, name: name, namespace: namespace, detached: false)
        return ActorRecord(spec: spec, creatorWorkerID: 0, pool: WorkerPool(executable: "w"))
    }

    func testANameBelongsToOneLiveActorPerNamespace() {
        var directory = ActorDirectory()
        let first = record(1, name: "counter")
        XCTAssertFalse(directory.nameTaken(by: first.spec))
        directory.add(first)
        XCTAssertTrue(directory.nameTaken(by: record(2, name: "counter").spec))
        XCTAssertFalse(directory.nameTaken(by: record(3, name: "counter", namespace: "other").spec))
        XCTAssertFalse(directory.nameTaken(by: record(4).spec), "unnamed actors never clash")
        XCTAssertTrue(directory.named("counter", namespace: "ns") === first)
        XCTAssertNil(directory.named("counter", namespace: "other"))
    }

    func testADeadActorsNameIsFreeAndAnOutOfScopeOneIsNotFound() {
        var directory = ActorDirectory()
        let first = record(1, name: "counter")
        directory.add(first)
        first.outOfScope = true
        XCTAssertNil(directory.named("counter", namespace: "ns"), "stopping: not handed out")
        first.state = .dead(ErrorInfo(kind: .actorDied, message: "gone"))
        XCTAssertFalse(directory.nameTaken(by: record(2, name: "counter").spec))
        let second = record(2, name: "counter")
        directory.add(second)
        directory.releaseName(of: first)  // the first one's late cleanup keeps the new owner
        XCTAssertTrue(directory.named("counter", namespace: "ns") === second)
        XCTAssertTrue(directory[first.id] === first, "dead actors stay known by id, for the state API")
    }

    func testPendingActorsComeBackInCreationOrderSkippingPlacedOnes() {
        var directory = ActorDirectory()
        let actors = (1...3).map { record(UInt64($0)) }
        for actor in actors {
            directory.add(actor)
            directory.waitForResources(actor)
        }
        actors[1].state = .starting(workerID: 9)
        XCTAssertEqual(directory.takePending().map(\.id), [actors[0].id, actors[2].id])
        XCTAssertTrue(directory.pending.isEmpty)
    }
}
