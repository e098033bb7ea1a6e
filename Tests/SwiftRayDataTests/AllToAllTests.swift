import Foundation
import SwiftRay
import SwiftRayData
import XCTest

/// Each group's size and the sum of its `x`, one row per group.
struct GroupSummary: GroupMapper {
    func callAsFunction(_ group: Block) throws -> Block {
        let xs = try group.column("x").doubles ?? []
        return try Block(["k": try group.column("k").gather([0]), "rows": .ints([Int64(group.rowCount)]), "total": .doubles([xs.reduce(0, +)])])
    }
}

/// A 1,024-float embedding per row (4 KiB), to make blocks large.
struct Embed: BatchMapper {
    func callAsFunction(_ batch: Block) throws -> Block {
        try batch.setting("embedding", Column(.floatVector(dimension: 1024, values: [Float](repeating: 0.5, count: batch.rowCount * 1024))))
    }
}

/// Shuffles, repartitions, groups, splits, and memory while streaming, on real workers.
final class AllToAllTests: XCTestCase {
    override func setUp() async throws { try await Ray.start(numCPUs: 2, includeDashboard: false) }

    override func tearDown() async throws {
        DataContext.current = DataContext()
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testShuffleRepartitionSplitAndTrainTestSplit() async throws {
        let ds = Dataset.range(1000, blocks: 5)
        let shuffled = try await ds.randomShuffle(seed: 3).takeAll().map { $0["id"].int! }
        XCTAssertEqual(shuffled.sorted(), Array(0..<1000), "every row once")
        XCTAssertNotEqual(shuffled, Array(0..<1000))
        let again = try await ds.randomShuffle(seed: 3).takeAll().map { $0["id"].int! }
        XCTAssertEqual(shuffled, again, "the same seed, the same order")

        var sizes: [Int] = []
        for try await block in ds.repartition(3).iterBlocks() { sizes.append(block.rowCount) }
        XCTAssertEqual(sizes, [333, 333, 334])
        let inOrder = try await ds.repartition(7).takeAll().map { $0["id"].int! }
        XCTAssertEqual(inOrder, Array(0..<1000))

        let parts = try await ds.split(4)
        var counts: [Int] = []
        var firsts: [Int64] = []
        for part in parts {
            counts.append(try await part.count())
            firsts.append(try await part.take(1)[0]["id"].int!)
        }
        XCTAssertEqual(counts, [250, 250, 250, 250])
        XCTAssertEqual(firsts, [0, 250, 500, 750])

        let (train, test) = try await ds.trainTestSplit(testFraction: 0.25, shuffle: true, seed: 9)
        let trainIDs = try await train.takeAll().map { $0["id"].int! }
        let testIDs = try await test.takeAll().map { $0["id"].int! }
        XCTAssertEqual(trainIDs.count, 750)
        XCTAssertEqual(testIDs.count, 250)
        XCTAssertEqual(Set(trainIDs + testIDs).count, 1000, "disjoint and complete")
    }

    func testZipAlignsRowsAcrossDifferentBlocks() async throws {
        let left = Dataset.range(100, blocks: 3)
        let right = Dataset.range(100, blocks: 7).withColumn("square", col("id") * col("id"))
        let rows = try await left.zip(right).takeAll()
        XCTAssertEqual(rows.count, 100)
        XCTAssertTrue(rows.allSatisfy { $0["id"] == $0["id_1"] && $0["square"].int == $0["id"].int! * $0["id"].int! }, "\(rows.prefix(3))")
        do {
            _ = try await left.zip(Dataset.range(99)).count()
            XCTFail("different row counts")
        } catch {
            XCTAssertTrue("\(error)".contains("zip needs as many rows on both sides: 100 and 99"), "\(error)")
        }
    }

    func testMapGroupsSeesEachGroupWhole() async throws {
        let rows: [Row] = (0..<3000).map { ["k": .int(Int64($0 % 17)), "x": .double(Double($0))] }
        let summary = try await Dataset.fromItems(rows, blocks: 6).groupBy("k").mapGroups(GroupSummary()).sort("k").takeAll()
        XCTAssertEqual(summary.map { $0["k"].int! }, Array(0..<17))
        for row in summary {
            let k = Int(row["k"].int!)
            let members = (0..<3000).filter { $0 % 17 == k }
            XCTAssertEqual(row["rows"].int, Int64(members.count), "group \(k) arrived whole")
            XCTAssertEqual(row["total"].double, Double(members.reduce(0, +)))
        }
    }

    func testStreamingKeepsTheStoreWithinTheBudget() async throws {
        // 40 blocks of ~4 MiB (160 MiB) through a 16 MiB budget: the store never holds more
        // than the budget and the blocks being handed over.
        var context = DataContext()
        context.memoryBudget = 16 << 20
        context.maxTasksInFlight = 40  // only the budget holds it back
        DataContext.current = context
        let ds = try Dataset.range(40_000, blocks: 40).mapBatches(Embed())
        var blocks = 0, peak = 0
        for try await block in ds.iterBlocks() {
            blocks += 1
            XCTAssertEqual(block.rowCount, 1000)
            let stored = try await ray.state.objects().filter { $0.location == "shared-memory" || $0.location == "spilled" }.reduce(0) { $0 + $1.size }
            peak = max(peak, stored)
        }
        XCTAssertEqual(blocks, 40)
        XCTAssertLessThanOrEqual(peak, (16 << 20) + 3 * (4 << 20) + (1 << 20), "the store held \(peak >> 20) MiB at most")
        XCTAssertGreaterThan(peak, 4 << 20)
        print("streamed 160 MiB through a 16 MiB budget; the store held at most \(peak >> 20) MiB")
        let stats = ds.stats()
        XCTAssertEqual(stats.map(\.name), ["Read", "MapBatches"])
        XCTAssertEqual(stats.last?.rows, 40_000)
        XCTAssertEqual(stats.last?.tasks, 40)
    }
}
