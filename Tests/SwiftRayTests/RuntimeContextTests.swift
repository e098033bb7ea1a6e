import Foundation
import SwiftRay
import XCTest

@Remote func contextInTask() -> RuntimeContext { ray.runtimeContext }

@RayActor
distributed actor Introspector {
    distributed func context() -> RuntimeContext { ray.runtimeContext }
    distributed func pid() -> Int32 { getpid() }
}

/// Ray's runtime context and cluster queries, from the driver, a task and an actor.
final class RuntimeContextTests: RayTestCase {
    func testATaskSeesItsIDNodeAndResources() async throws {
        let ref = $contextInTask.options(numCPUs: 1, resources: ["accelerator": 0.5]).remote()
        let context = try await ray.get(ref)
        XCTAssertEqual(context.taskID, ref.id)
        XCTAssertEqual(context.taskName, "contextInTask")
        XCTAssertEqual(context.nodeID, ray.nodeID)
        XCTAssertEqual(context.assignedResources, ["CPU": 1, "accelerator": 0.5])
        XCTAssertNil(context.actorID)
        XCTAssertNotEqual(context.processID, getpid())
        let driver = ray.runtimeContext
        XCTAssertNil(driver.taskID, "the driver runs no task")
        XCTAssertEqual(driver.processID, getpid())
    }

    func testAnActorSeesItselfAndWhetherItWasRestarted() async throws {
        let actor = try await ray.actor(
            Introspector.self, options: ActorOptions(numCPUs: 1, maxRestarts: 1, name: "inspector", namespace: "tests"))
        let first = try await actor.context()
        XCTAssertEqual(first.actorName, "inspector")
        XCTAssertEqual(first.namespace, "tests")
        XCTAssertEqual(first.assignedResources, ["CPU": 1])
        XCTAssertFalse(first.wasCurrentActorRestarted)
        XCTAssertNotNil(first.actorID)
        XCTAssertNotNil(first.taskID, "a call has its own id")
        let pid = try await actor.pid()
        kill(pid, SIGKILL)
        try await RaySemanticsTests.waitUntilGone(pid)
        let restarted = try await ray.get(actor.remote.context(), timeout: .seconds(30))
        XCTAssertTrue(restarted.wasCurrentActorRestarted)
        XCTAssertEqual(restarted.actorRestarts, 1)
        XCTAssertEqual(restarted.actorID, first.actorID)
    }

    func testClusterAndAvailableResourcesAndNodes() async throws {
        let total = try await ray.clusterResources()
        XCTAssertEqual(total["CPU"], 2)
        XCTAssertEqual(total["accelerator"], 1)
        let nodes = try await ray.nodes()
        XCTAssertEqual(nodes.count, 1)
        XCTAssertEqual(nodes.first?.nodeID, ray.nodeID)
        let holder = try await ray.actor(Introspector.self, options: ActorOptions(numCPUs: 2))
        _ = try await holder.pid()
        let free = try await ray.availableResources()
        XCTAssertNil(free["CPU"], "both CPUs are held: left out, as in Ray")
        XCTAssertEqual(free["accelerator"], 1)
        try ray.kill(holder)
    }
}
