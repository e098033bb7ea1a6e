import Foundation
import RayTesting
import SwiftRay
import XCTest

/// A store over its capacity spills its oldest objects to disk and still serves every value.
final class SpillingTests: XCTestCase {
    let capacity = 4 * 1024 * 1024
    var spillFolder: String { NSTemporaryDirectory() + "swiftray-spill-node-\(getpid())" }

    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, objectStoreMemory: capacity)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testObjectsThreeTimesTheCapacityStayIntact() async throws {
        // 12 objects of 1 MB each: three times what the store keeps in memory.
        let arrays = (0..<12).map { index in (0..<131_072).map { Double($0 &* 31 &+ index) } }
        var refs: [ObjectRef<[Double]>] = []
        for array in arrays { refs.append(try ray.put(array)) }
        let stats = try await ray.objectStoreStats()
        XCTAssertLessThanOrEqual(stats.sharedBytes, capacity)
        XCTAssertGreaterThan(stats.spilledObjects, 0)
        XCTAssertEqual(stats.sharedObjects + stats.spilledObjects, 12)
        // Every value comes back, in the driver and in workers (read from disk where spilled).
        let back = try await ray.get(refs)
        XCTAssertEqual(back, arrays)
        let sums = try await ray.get(refs.map { $sum.remote($0) })
        XCTAssertEqual(sums, arrays.map { $0.reduce(0, +) })
        refs = []
        let freed = try await RayTesting.eventually {
            let now = try await ray.objectStoreStats()
            return now.sharedObjects == 0 && now.spilledObjects == 0
        }
        XCTAssertTrue(freed)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: spillFolder)) ?? []
        XCTAssertEqual(left.filter { !$0.hasSuffix(".tmp") }, [], "spilled files go with their objects")
    }

    func testObjectLargerThanTheStoreIsObjectStoreFullError() async throws {
        do {
            _ = try ray.put([UInt8](repeating: 1, count: 2 * capacity))
            XCTFail("expected ObjectStoreFullError")
        } catch let error as ObjectStoreFullError {
            XCTAssertTrue(error.message.contains("capacity"), error.message)
        }
        let big = $bigArray.remote(capacity)  // 8 bytes each: twice the capacity, as a task result
        do {
            _ = try await ray.get(big)
            XCTFail("expected ObjectStoreFullError")
        } catch is ObjectStoreFullError {}
        let squared = try await ray.get($square.remote(6))
        XCTAssertEqual(squared, 36, "nothing else breaks")
    }
}

/// A store that cannot spill (its spill folder cannot be created) makes large puts wait for room
/// for a bounded time, then throw; everything else keeps working.
final class FullStoreTests: XCTestCase {
    let capacity = 1 << 20
    let blocker = NSTemporaryDirectory() + "swiftray-not-a-folder-\(getpid())"

    override func setUp() async throws {
        _ = FileManager.default.createFile(atPath: blocker, contents: Data())
        try await Ray.start(
            numCPUs: 2, objectStoreMemory: capacity, spillDirectory: blocker, objectStoreFullWait: .milliseconds(300))
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
        try? FileManager.default.removeItem(atPath: blocker)
    }

    func testPutThrowsAfterABoundedWaitAndWorksOnceRoomIsFreed() async throws {
        var first: ObjectRef<[UInt8]>? = try ray.put([UInt8](repeating: 1, count: 600_000))
        let second = try ray.put([UInt8](repeating: 2, count: 600_000))  // over capacity, and spilling fails
        _ = try await ray.objectStoreStats()  // the node has taken both
        let started = ContinuousClock.now
        XCTAssertThrowsError(try ray.put([UInt8](repeating: 3, count: 600_000))) { error in
            XCTAssertTrue(error is ObjectStoreFullError, "\(error)")
        }
        let waited = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(300))
        XCTAssertLessThan(waited, .seconds(10))
        do {
            _ = try await ray.get($bigArray.remote(100_000), timeout: .seconds(30))  // an 800 KB result
            XCTFail("expected ObjectStoreFullError")
        } catch is ObjectStoreFullError {}
        let squared = try await ray.get($square.remote(7))
        XCTAssertEqual(squared, 49, "small objects and tasks are unaffected")
        let kept = try await ray.get(second)
        XCTAssertEqual(kept.count, 600_000)
        XCTAssertTrue(kept.allSatisfy { $0 == 2 }, "stored values stay intact")

        first = nil
        let roomy = try await RayTesting.eventually { try await ray.objectStoreStats().sharedBytes <= capacity }
        XCTAssertTrue(roomy)
        let third = try ray.put([UInt8](repeating: 3, count: 300_000))
        let back = try await ray.get(third)
        XCTAssertEqual(back, [UInt8](repeating: 3, count: 300_000))
        _ = first
    }
}
