import Foundation
import RayTesting
import SwiftRay
import SwiftRayData
import Synchronization
import XCTest

/// How many times `setUp` ran in this process.
let setUps = Mutex(0)

/// A "model" loaded once per actor: tags each row with its actor's pid and set-up count, scales x.
struct ScaleModel: StatefulBatchMapper {
    var factor: Double
    var loadedFactor = 0.0

    mutating func setUp() async throws {
        setUps.withLock { $0 += 1 }
        loadedFactor = factor  // the "expensive load"
    }

    func callAsFunction(_ batch: Block) async throws -> Block {
        let ids = try batch.column("id").doubles ?? []
        return try batch.setting("scaled", .doubles(ids.map { $0 * loadedFactor }))
            .setting("pid", .ints([Int64](repeating: Int64(getpid()), count: batch.rowCount)))
            .setting("setUps", .ints([Int64](repeating: Int64(setUps.withLock { $0 }), count: batch.rowCount)))
    }
}

/// A model whose every batch takes `millis` of work: tags rows with the actor's pid.
struct SlowModel: StatefulBatchMapper {
    var millis: Int
    func callAsFunction(_ batch: Block) async throws -> Block {
        try await Task.sleep(for: .milliseconds(millis))  // the model's work, not synchronisation
        return try batch.setting("pid", .ints([Int64](repeating: Int64(getpid()), count: batch.rowCount)))
    }
}

/// Adds one to `id` (a plain batch function, for per-call resources).
struct PlusOne: BatchMapper {
    func callAsFunction(_ batch: Block) throws -> Block {
        try batch.setting("next", .ints((try batch.column("id").doubles ?? []).map { Int64($0) + 1 }))
    }
}

/// Stateful transforms on a pool of actors, and per-call resources.
final class ActorPoolTests: XCTestCase {
    override func setUp() async throws { try await Ray.start(numCPUs: 2, includeDashboard: false) }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testAPoolOfActorsSetsUpOnceEachAndKeepsTheOrder() async throws {
        let ds = try Dataset.range(3000, blocks: 12).mapBatches(ScaleModel(factor: 2), batchSize: 100, concurrency: 2)
            .withColumn("check", col("scaled") - col("id") * 2)
        let rows = try await ds.takeAll()
        XCTAssertEqual(rows.map { $0["id"].int! }, Array(0..<3000), "input order kept")
        XCTAssertTrue(rows.allSatisfy { $0["check"].double == 0 }, "every row scaled by the set-up factor")
        XCTAssertTrue(rows.allSatisfy { $0["setUps"].int == 1 }, "each actor set its model up once")
        let pids = Set(rows.map { $0["pid"].int! })
        XCTAssertEqual(pids.count, 2, "two actors shared the blocks")
        XCTAssertFalse(pids.contains(Int64(getpid())))
        XCTAssertEqual(ds.stats().map(\.name), ["Read", "MapBatches(actors)", "WithColumn"])
    }

    /// `concurrency: 1...3`: one actor at first, more while every actor is busy, never more than
    /// three; order kept; every pool actor released once the run ends.
    func testAnAutoscalingPoolGrowsUnderLoadAndIsReleased() async throws {
        let ds = try Dataset.range(2400, blocks: 24).mapBatches(SlowModel(millis: 60), concurrency: 1...3, numCPUs: 0.25)
        let rows = try await ds.takeAll()
        XCTAssertEqual(rows.map { $0["id"].int! }, Array(0..<2400), "input order kept")
        let pids = Set(rows.map { $0["pid"].int! })
        XCTAssertGreaterThan(pids.count, 1, "the pool grew while its actor was saturated")
        XCTAssertLessThanOrEqual(pids.count, 3, "never past the maximum")
        let released = try await RayTesting.eventually {
            try await ray.state.actors().filter { $0.className.contains("BatchMapperActor") && $0.state != .dead }.isEmpty
        }
        XCTAssertTrue(released, "the pool's actors are released at the end")
    }

    func testPerCallResourcesReachTheTasks() async throws {
        let half = try await Dataset.range(100, blocks: 4).mapBatches(PlusOne(), numCPUs: 0.5).takeAll()
        XCTAssertEqual(half.map { $0["next"].int! }, Array(1...100))
        do {
            _ = try await Dataset.range(100, blocks: 2).mapBatches(PlusOne(), numCPUs: 3).count()
            XCTFail("3 CPUs on a 2-CPU cluster cannot be placed")
        } catch {
            XCTAssertTrue("\(error)".contains("Unschedulable") || "\(error)".contains("CPU"), "\(error)")
        }
    }
}
