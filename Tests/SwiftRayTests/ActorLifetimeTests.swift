import RayTesting
import SwiftRay
import XCTest

/// Actors go when no handle to them remains (unless detached), after their queued calls.
final class ActorLifetimeTests: RayTestCase {
    func testActorStopsWhenItsLastHandleGoes() async throws {
        var counter: Counter? = try await ray.actor(Counter.self, options: ActorOptions(name: "collected"))
        let pid = try await counter!.pid()
        XCTAssertTrue(RayTesting.isAlive(pid))
        counter = nil
        let stopped = await RayTesting.eventually(timeout: .seconds(20)) { !RayTesting.isAlive(pid) }
        XCTAssertTrue(stopped, "the actor's process stops once no handle remains")
        _ = await expectError(RaySystemError.self) { try await ray.getActor(Counter.self, name: "collected") }
    }

    func testQueuedCallsFinishBeforeTheActorStops() async throws {
        var counter: Counter? = try await ray.actor(Counter.self)
        let pid = try await ray.get(counter!.remote.pid())
        let refs = (0..<5).map { _ in counter!.remote.increment() }
        counter = nil
        let values = try await ray.get(refs, timeout: .seconds(30))
        XCTAssertEqual(values, [1, 2, 3, 4, 5])
        let stopped = await RayTesting.eventually(timeout: .seconds(20)) { !RayTesting.isAlive(pid) }
        XCTAssertTrue(stopped)
    }

    func testHandleInsideAnObjectKeepsTheActorAlive() async throws {
        var counter: Counter? = try await ray.actor(Counter.self)
        let pid = try await counter!.pid()
        var box: ObjectRef<CounterBox>? = try ray.put(CounterBox(counter: counter!))
        counter = nil
        let first = try await ray.get($incrementInBox.remote(box!), timeout: .seconds(30))
        let second = try await ray.get($incrementInBox.remote(box!), timeout: .seconds(30))
        XCTAssertEqual([first, second], [1, 2], "the object's handle kept the actor and its state")
        XCTAssertTrue(RayTesting.isAlive(pid))
        box = nil
        let stopped = await RayTesting.eventually(timeout: .seconds(20)) { !RayTesting.isAlive(pid) }
        XCTAssertTrue(stopped, "freeing the object released the last handle")
    }

    func testActorCreatedAndDroppedInATaskStops() async throws {
        let pid = try await ray.get($createAndDropActor.remote("dropped", detached: false), timeout: .seconds(30))
        let stopped = await RayTesting.eventually(timeout: .seconds(20)) { !RayTesting.isAlive(pid) }
        XCTAssertTrue(stopped)
    }

    func testDetachedActorOutlivesItsHandles() async throws {
        let pid = try await ray.get($createAndDropActor.remote("kept", detached: true), timeout: .seconds(30))
        let found = try await ray.getActor(Counter.self, name: "kept")
        let value = try await found.increment()
        XCTAssertEqual(value, 1)
        XCTAssertTrue(RayTesting.isAlive(pid))
        try ray.kill(found)
    }
}
