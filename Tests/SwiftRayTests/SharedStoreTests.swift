import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Large objects live once per node in the shared-memory store and go when freed.
final class SharedStoreTests: RayTestCase {
    private var folder: String { "/dev/shm/swiftray-node-\(getpid())" }

    /// Sealed objects in the store (not files kept for reuse).
    private func files() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasSuffix(".tmp") && !$0.hasPrefix("free-") }
    }

    private func stats() async throws -> ObjectStoreStats { try await ray.objectStoreStats() }

    func testLargePutIsOneSharedCopyReadByManyTasks() async throws {
        let baseline = try await stats()
        do {
            let values = (0..<1_000_000).map { Double($0 % 1000) }  // 8 MB
            let ref = try ray.put(values)
            let sums = try await ray.get((0..<10).map { _ in $sum.remote(ref) })
            XCTAssertEqual(sums, Array(repeating: values.reduce(0, +), count: 10))
            let held = try await stats()
            XCTAssertEqual(held.sharedObjects, baseline.sharedObjects + 1, "ten readers, one copy")
            XCTAssertGreaterThanOrEqual(held.sharedBytes - baseline.sharedBytes, 8_000_000)
            XCTAssertEqual(files().count, 1)
            let back = try await ray.get(ref)
            XCTAssertEqual(back, values)
        }
        let freed = try await RayTesting.eventually { try await self.stats().sharedObjects == baseline.sharedObjects }
        XCTAssertTrue(freed)
        XCTAssertEqual(files(), [], "the freed object's file is gone")
    }

    func testLargeResultsAndWorkerPutsGoThroughSharedMemory() async throws {
        do {
            let array = $bigArray.remote(200_000)
            let strings = $bigStrings.remote(50_000)
            let inner = try await ray.get($putBigInTask.remote(300_000))
            let values = try await ray.get(array)
            XCTAssertEqual(values.count, 200_000)
            XCTAssertEqual(values.last, 199_999)
            let texts = try await ray.get(strings)
            XCTAssertEqual(texts[49_999], "item-49999")
            let ones = try await ray.get(inner)
            XCTAssertEqual(ones.count, 300_000)
            XCTAssertEqual(ones.reduce(0, +), 450_000)
            let shared = try await stats().sharedObjects
            XCTAssertEqual(shared, 3)
            // A large result passed on to another task is read there from shared memory.
            let total = try await ray.get($sum.remote(array))
            XCTAssertEqual(total, values.reduce(0, +))
        }
        let freed = try await RayTesting.eventually { try await self.stats().sharedObjects == 0 }
        XCTAssertTrue(freed)
        XCTAssertEqual(files(), [])
    }

    func testLargeActorResult() async throws {
        let recorder = try await ray.actor(Recorder.self)
        let direct = try await recorder.series(30_000)  // 240 KB: through the store
        XCTAssertEqual(direct, Array(0..<30_000))
        let viaRef = try await ray.get(recorder.remote.series(50_000))
        XCTAssertEqual(viaRef.count, 50_000)
    }

    func testRecycledFilesHoldOnlyTheNewValue() async throws {
        for (count, fill) in [(300_000, 1.0), (200_000, 2.0), (150_000, 3.0), (200_000, 4.0)] {
            let ref = try ray.put([Double](repeating: fill, count: count))
            let back = try await ray.get(ref)
            XCTAssertEqual(back.count, count)
            XCTAssertTrue(back.allSatisfy { $0 == fill }, "a reused file shows no bytes of its last object")
        }
        let freed = try await RayTesting.eventually { try await self.stats().sharedObjects == 0 }
        XCTAssertTrue(freed)
    }

    func testZeroCopyViewsReadTheStoreInPlace() async throws {
        let values = (0..<1_000_000).map { Double($0 % 10) }
        let ref = try ray.put(values)
        let reports = try await ray.get((0..<4).map { _ in $sumInPlace.remote(ref) })
        for report in reports {
            XCTAssertEqual(report, ViewReport(sum: values.reduce(0, +), count: 1_000_000, shared: true, mapsStoreFile: true))
        }
        let view = try await ray.view(ref)
        XCTAssertTrue(view.isShared)
        XCTAssertEqual(view[999_999], 9)
        XCTAssertEqual(Array(view.prefix(3)), [0, 1, 2])
        // A small array is viewed from a private copy.
        let small = try await ray.view(try ray.put([Float](repeating: 0.5, count: 10)))
        XCTAssertFalse(small.isShared)
        XCTAssertEqual(Array(small), [Float](repeating: 0.5, count: 10))
    }

    func testViewKeepsItsObjectAlive() async throws {
        var view: ArrayView<Int>?
        do {
            let ref = try ray.put(Array(0..<100_000))
            view = try await ray.view(ref)
        }  // the ref is gone; the view still holds the object
        let shared = try await stats().sharedObjects  // ordered after the dropped ref's release
        XCTAssertEqual(shared, 1)
        XCTAssertEqual(view?.last, 99_999)
        view = nil
        let freed = try await RayTesting.eventually { try await self.stats().sharedObjects == 0 }
        XCTAssertTrue(freed)
    }

    func testWriterKilledMidWriteLeavesNothingBehind() async throws {
        let baseline = try await stats()
        let dead = $dieWhileWriting.options(maxRetries: 0).remote(4_000_000)  // 32 MB writes
        _ = await expectError(WorkerCrashedError.self) { try await ray.get(dead, timeout: .seconds(60)) }
        let cleaned = await RayTesting.eventually {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: self.folder)) ?? []
            return !names.contains { $0.hasSuffix(".tmp") }
        }
        XCTAssertTrue(cleaned, "the unsealed file of the dead writer is removed")
        let after = try await stats()
        XCTAssertEqual(after.sharedObjects, baseline.sharedObjects, "no half-written object is visible")
        // The store keeps serving.
        let ref = try ray.put([Double](repeating: 2, count: 200_000))
        let back = try await ray.get(ref)
        XCTAssertEqual(back.count, 200_000)
    }

    func testStoreFolderGoesAtShutdown() async throws {
        let ref = try ray.put([UInt8](repeating: 7, count: 500_000))
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder))
        try await ray.shutdown()
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder))
        _ = ref
    }
}
