import Foundation
import SwiftRay
import XCTest

@Remote func produce(_ queue: Queue<Int>, _ count: Int) async throws -> Int {
    for value in 0..<count { try await queue.put(value) }
    return count
}

@Remote func consume(_ queue: Queue<Int>, _ count: Int) async throws -> [Int] {
    var items: [Int] = []
    for _ in 0..<count { items.append(try await queue.get(timeout: .seconds(30))) }
    return items
}

@Remote func putRefInQueue(_ queue: Queue<ObjectRef<[Double]>>) async throws -> Int {
    try await queue.put(try ray.put([1.5, 2.5]))
    return 1
}

/// Ray's `Queue` cases (`test_queue.py`): FIFO, bounds, timeouts, batches, and use from tasks.
final class QueueTests: RayTestCase {
    func testItemsComeOutInTheOrderTheyWentIn() async throws {
        let queue = try await Queue<String>()
        for word in ["a", "b", "c"] { try await queue.put(word) }
        let size = try await queue.size()
        XCTAssertEqual(size, 3)
        var out: [String] = []
        for _ in 0..<3 { out.append(try await queue.get()) }
        XCTAssertEqual(out, ["a", "b", "c"])
        let empty = try await queue.isEmpty()
        XCTAssertTrue(empty)
    }

    func testABoundedQueueRefusesOrWaitsWhenFull() async throws {
        let queue = try await Queue<Int>(maxSize: 2)
        try await queue.putNowaitBatch([1, 2])
        let full = try await queue.isFull()
        XCTAssertTrue(full)
        _ = await expectError(QueueFull.self) { try await queue.putNowait(3) }
        _ = await expectError(QueueFull.self) { try await queue.put(3, timeout: .milliseconds(100)) }
        _ = await expectError(QueueFull.self) { try await queue.putNowaitBatch([3]) }
        // A waiting put gets in once a get makes room.
        async let waitingPut: Void = queue.put(3, timeout: .seconds(30))
        let first = try await queue.get()
        try await waitingPut
        XCTAssertEqual(first, 1)
        let rest = try await queue.getNowaitBatch(2)
        XCTAssertEqual(rest, [2, 3])
    }

    func testGetOnAnEmptyQueueWaitsOrRefuses() async throws {
        let queue = try await Queue<Int>()
        _ = await expectError(QueueEmpty.self) { try await queue.getNowait() }
        let started = ContinuousClock.now
        _ = await expectError(QueueEmpty.self) { try await queue.get(timeout: .milliseconds(200)) }
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(200))
        _ = await expectError(QueueEmpty.self) { try await queue.getNowaitBatch(1) }
        try await queue.put(7)
        _ = await expectError(QueueEmpty.self) { try await queue.getNowaitBatch(2) }
        let one = try await queue.getNowaitBatch(1)
        XCTAssertEqual(one, [7], "a refused batch takes nothing")
    }

    func testTasksProduceAndConsumeThroughOneQueue() async throws {
        let queue = try await Queue<Int>(maxSize: 10)
        let consumer = $consume.remote(queue, 100)
        let producer = $produce.remote(queue, 100)
        let produced = try await ray.get(producer, timeout: .seconds(60))
        let consumed = try await ray.get(consumer, timeout: .seconds(60))
        XCTAssertEqual(produced, 100)
        XCTAssertEqual(consumed, Array(0..<100), "in order, through a queue never above 10 items")
    }

    func testARefInAQueuedItemKeepsItsObjectAlive() async throws {
        let queue = try await Queue<ObjectRef<[Double]>>()
        _ = try await ray.get($putRefInQueue.remote(queue))  // the task that made the object is gone
        let ref = try await queue.get(timeout: .seconds(10))
        let values = try await ray.get(ref)
        XCTAssertEqual(values, [1.5, 2.5])
    }

    func testShutdownEndsTheQueue() async throws {
        let queue = try await Queue<Int>()
        try await queue.put(1)
        try queue.shutdown()
        _ = await expectError(ActorDiedError.self) { try await queue.get(timeout: .seconds(10)) }
    }
}
