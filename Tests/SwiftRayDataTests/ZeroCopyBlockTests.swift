import Foundation
import RayTesting
import SwiftRay
@testable import SwiftRayData
import XCTest

/// What a task saw of a block it was given: which columns read the store in place, and a sum.
struct MappedReport: Codable, Sendable, Equatable {
    var mapped: [String]
    var sum: Int64
}

@Remote func inspectBlock(_ ref: ObjectRef<Block>) async throws -> MappedReport {
    let block = try await ref.get()
    return MappedReport(mapped: ZeroCopyBlockTests.mappedColumns(block), sum: block["id"]!.int64Values.reduce(0, +))
}

/// Blocks read from the node's shared-memory store alias it: their numbers and strings are not
/// copied out, the mapping keeps the object alive, and changing a column copies it first.
final class ZeroCopyBlockTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    /// Every column type, some nulls, large enough (~2.6 MB) for the shared-memory store.
    static func sample(rows: Int = 50_000) throws -> Block {
        try Block([
            "id": .ints((0..<rows).map(Int64.init)),
            "x": Column(.double((0..<rows).map { Double($0) / 4 }), validity: (0..<rows).map { $0 % 7 != 0 }),
            "name": .strings((0..<rows).map { "row-\($0)" }),
            "ok": .bools((0..<rows).map { $0 % 2 == 0 }),
            "v": .vectors((0..<rows).map { [Float($0), 1, 2] }, dimension: 3),
        ])
    }

    /// The columns whose values alias a mapping.
    static func mappedColumns(_ block: Block) -> [String] {
        zip(block.names, block.columns).compactMap { name, column in
            let mapped = switch column.storage {
            case .int64(let v): v.isMapped
            case .double(let v): v.isMapped
            case .string(let s): s.offsets.isMapped && s.bytes.isMapped
            case .floatVector(_, let v): v.isMapped
            case .bool: false
            }
            return mapped ? name : nil
        }.sorted()
    }

    func testBlocksFromTheStoreAreReadInPlaceByDriversAndTasks() async throws {
        let block = try Self.sample()
        let ref = try ray.put(block)
        let back = try await ray.get(ref)
        XCTAssertEqual(back, block)
        XCTAssertEqual(Self.mappedColumns(back), ["id", "name", "v", "x"])
        XCTAssertEqual(back.row(7)["x"], .null)
        XCTAssertEqual(back.row(49_999)["name"], "row-49999")
        let reports = try await ray.get((0..<3).map { _ in $inspectBlock.remote(ref) })
        XCTAssertEqual(reports, Array(repeating: MappedReport(mapped: ["id", "name", "v", "x"], sum: Int64(49_999 * 50_000 / 2)), count: 3))
        // A small block travels inline and is decoded into arrays of its own.
        let small = try await ray.get(try ray.put(try Self.sample(rows: 10)))
        XCTAssertEqual(small, try Self.sample(rows: 10))
        XCTAssertEqual(Self.mappedColumns(small), [])
    }

    func testAMappedBlockKeepsItsObjectAliveAndCopiesBeforeChanging() async throws {
        let expected = try Self.sample()
        var held: Block?
        do {
            let ref = try ray.put(expected)
            held = try await ray.get(ref)
        }  // the ref is gone; the block still holds the object
        let shared = try await ray.objectStoreStats().sharedObjects
        XCTAssertEqual(shared, 1)
        // Objects of the same size come and go (freed files are recycled for new writes): the
        // held block's file is not among them.
        for round in 0..<5 {
            let other = try Block(["id": .ints([Int64](repeating: Int64(round), count: 330_000))])
            _ = try await ray.get(try ray.put(other))
        }
        XCTAssertEqual(held, expected)
        do {
            guard case .int64(let ids)? = held?["id"]?.storage else { return XCTFail("no id column") }
            var changed = ids
            changed[0] = -1
            XCTAssertFalse(changed.isMapped)
            XCTAssertTrue(ids.isMapped)
            XCTAssertEqual(ids[0], 0, "the store's copy is unchanged")
            XCTAssertEqual(Array(changed.prefix(2)), [-1, 1])
        }
        held = nil  // the last reader of the mapping
        let freed = try await RayTesting.eventually { try await ray.objectStoreStats().sharedObjects == 0 }
        XCTAssertTrue(freed, "the object goes with the last block reading it")
    }

    func testBatchesSliceStoredBlocksInPlaceAndHandOutEveryRowOnce() async throws {
        let ds = try await Dataset.range(200_000, blocks: 3).withColumn("x", col("id") * 0.5).materialize()
        var next: Int64 = 0, sizes: [Int] = [], mapped = 0
        for try await batch in ds.iterBatches(batchSize: 5_000) {
            guard case .int64(let ids)? = batch["id"]?.storage, case .double(let xs)? = batch["x"]?.storage else { return XCTFail("columns") }
            XCTAssertEqual(ids.array, Array(next..<(next + Int64(ids.count))))
            XCTAssertEqual(xs.array, ids.map { Double($0) * 0.5 })
            next += Int64(ids.count)
            sizes.append(batch.rowCount)
            if ids.isMapped && xs.isMapped { mapped += 1 }
        }
        XCTAssertEqual(next, 200_000)
        XCTAssertEqual(sizes, Array(repeating: 5_000, count: 40))
        // Batches within one block alias it; the two that span block boundaries are joined copies.
        XCTAssertEqual(mapped, 38)
    }
}
