import Foundation
import SwiftRay
import SwiftRayData
import XCTest

/// Squares `id` into `square` and tags the row with the worker's pid.
struct SquareRow: RowMapper {
    var offset: Int64
    func callAsFunction(_ row: Row) throws -> Row {
        var row = row
        row["square"] = .int(row["id"].int! * row["id"].int! + offset)
        row["pid"] = .int(Int64(getpid()))
        return row
    }
}

/// Each row `n` times.
struct Repeat: FlatMapper {
    var times: Int
    func callAsFunction(_ row: Row) throws -> [Row] { Array(repeating: row, count: times) }
}

/// Rows whose id is odd.
struct OddIDs: RowPredicate {
    func callAsFunction(_ row: Row) throws -> Bool { row["id"].int! % 2 == 1 }
}

/// Batch sizes seen, as a column; fails on a batch holding `poison`.
struct BatchSizes: BatchMapper {
    var poison: Int64 = -1
    func callAsFunction(_ batch: Block) throws -> Block {
        if case .int64(let ids) = try batch.column("id").storage, ids.contains(poison) { throw DataError.invalid("poisoned batch") }
        return try batch.setting("batch", .ints([Int64](repeating: Int64(batch.rowCount), count: batch.rowCount)))
    }
}

/// Sales as typed records, batch by batch: the batch format of structs.
struct SaleTotals: RecordBatchMapper {
    struct Total: Codable, Equatable { var region: String; var total: Double; var batch: Int }
    func callAsFunction(_ batch: [DatasetTests.Sale]) throws -> [Total] {
        batch.map { Total(region: $0.region, total: $0.amount * Double($0.units), batch: batch.count) }
    }
}

/// Datasets on a real local cluster: worker processes run every stage.
final class DatasetTests: XCTestCase {
    var folder = ""

    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        folder = NSTemporaryDirectory() + "swiftray-data-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testTransformsRunInWorkersAndFuse() async throws {
        let ds = try Dataset.range(1000, blocks: 4)
            .map(SquareRow(offset: 1))
            .filter(col("square") % 5 == 0)
            .withColumn("half", col("square") / 2)
            .dropColumns("pid")
        let rows = try await ds.takeAll()
        let expected = (0..<1000).filter { ($0 * $0 + 1) % 5 == 0 }
        XCTAssertEqual(rows.map { $0["id"].int! }, expected.map(Int64.init))
        XCTAssertEqual(rows.first?.names, ["id", "square", "half"])
        XCTAssertEqual(rows.first?["half"].double, Double(expected[0] * expected[0] + 1) / 2)
        let count = try await ds.count()
        XCTAssertEqual(count, expected.count)
        // The rows were made by worker processes, not this one.
        let pids = Set(try await Dataset.range(100, blocks: 4).map(SquareRow(offset: 0)).takeAll().map { $0["pid"].int! })
        XCTAssertFalse(pids.contains(Int64(getpid())))

        let flat = try await Dataset.range(10).flatMap(Repeat(times: 3)).filter(OddIDs()).count()
        XCTAssertEqual(flat, 15)
        let renamed = try await Dataset.range(5).renameColumns(["id": "n"]).selectColumns("n").take(2)
        XCTAssertEqual(renamed, [["n": 0], ["n": 1]])
        let schema = try await Dataset.range(5).withColumn("x", col("id") * 1.5).schema()
        XCTAssertEqual(schema?.names, ["id", "x"])
        XCTAssertEqual(schema?.fields.map(\.type), [.int64, .double])
    }

    func testBatchesLimitsUnionAndIteration() async throws {
        let batches = try await Dataset.range(100, blocks: 3).mapBatches(BatchSizes(), batchSize: 16).takeAll()
        // Blocks of 33, 33 and 34 rows in batches of 16.
        XCTAssertEqual(batches.map { $0["batch"].int! }, [Int64](repeating: 16, count: 32) + [1] + [Int64](repeating: 16, count: 32) + [1]
            + [Int64](repeating: 16, count: 32) + [2, 2])
        var sizes: [Int] = []
        for try await batch in Dataset.range(1000, blocks: 7).iterBatches(batchSize: 300) { sizes.append(batch.rowCount) }
        XCTAssertEqual(sizes, [300, 300, 300, 100])
        var ids: [Int64] = []
        for try await row in Dataset.range(50, blocks: 5).limit(12).iterRows() { ids.append(row["id"].int!) }
        XCTAssertEqual(ids, Array(0..<12))
        let joined = try await Dataset.range(3).union(Dataset.fromItems([["id": 10], ["id": 11]])).takeAll().map { $0["id"].int! }
        XCTAssertEqual(joined, [0, 1, 2, 10, 11])
        let materialized = try await Dataset.range(20, blocks: 2).withColumn("y", col("id") + 1).materialize()
        let first = try await materialized.take(3)
        let again = try await materialized.count()
        XCTAssertEqual(first.map { $0["y"].int! }, [1, 2, 3])
        XCTAssertEqual(again, 20)
    }

    func testGroupByAggregatesAndSortAcrossBlocks() async throws {
        var rows: [Row] = []
        var generator = SeededRandom(seed: 7)
        for i in 0..<5000 {
            rows.append(["k": .int(Int64(generator.next() % 13)), "x": .double(Double(generator.next() % 1000) / 10), "i": .int(Int64(i))])
        }
        let ds = Dataset.fromItems(rows, blocks: 6)
        let grouped = try await ds.groupBy("k").aggregate(.count(), .sum("x"), .mean("x"), .min("i"), .max("i"), .std("x")).takeAll()
        XCTAssertEqual(grouped.map { $0["k"].int! }, Array(0..<13))
        for row in grouped {
            let xs = rows.filter { $0["k"] == row["k"] }.map { $0["x"].double! }
            XCTAssertEqual(row["count()"].int, Int64(xs.count))
            XCTAssertEqual(row["sum(x)"].double!, xs.reduce(0, +), accuracy: 1e-6)
            XCTAssertEqual(row["mean(x)"].double!, xs.reduce(0, +) / Double(xs.count), accuracy: 1e-9)
        }
        let total = try await ds.aggregate(.count(), .sum("i"))
        XCTAssertEqual(total, ["count()": 5000, "sum(i)": .int(Int64(4999 * 5000 / 2))])

        let sorted = try await ds.sort("x", descending: true).takeAll()
        XCTAssertEqual(sorted.count, 5000)
        XCTAssertEqual(sorted.map { $0["x"].double! }, rows.map { $0["x"].double! }.sorted(by: >))
        let byTwo = try await ds.sort(by: [SortKey("k"), SortKey("i", descending: true)]).take(3)
        let expected = rows.sorted { ($0["k"].int!, -$0["i"].int!) < ($1["k"].int!, -$1["i"].int!) }.prefix(3)
        XCTAssertEqual(byTwo, Array(expected))
    }

    func testCSVFolderReadSplitTransformedAndWrittenBack() async throws {
        for file in 0..<3 {
            var text = "id,key,price,name\n"
            for i in 0..<2000 { text += "\(file * 2000 + i),\(i % 10),\(Double(i) * 0.25),\"n, \(i)\"\n" }
            try text.write(toFile: "\(folder)/in_\(file).csv", atomically: true, encoding: .utf8)
        }
        var context = DataContext.current
        context.targetBlockBytes = 20_000  // splits each ~70 KB file into several blocks at line ends
        DataContext.current = context
        defer { DataContext.current = DataContext() }
        let ds = try Dataset.readCSV(folder + "/in_*.csv").withColumn("double", col("price") * 2).filter(col("key") < 5)
        let rows = try await ds.takeAll()
        XCTAssertEqual(rows.count, 3000)
        XCTAssertEqual(rows.map { $0["id"].int! }, (0..<6000).filter { $0 % 2000 % 10 < 5 }.map(Int64.init))
        XCTAssertEqual(rows[7]["name"], "n, 12")
        let paths = try await ds.writeCSV(folder + "/out")
        XCTAssertGreaterThan(paths.count, 3)
        XCTAssertEqual(paths.first.map { URL(fileURLWithPath: $0).lastPathComponent }, "part_000000.csv")
        let back = try await Dataset.readCSV(folder + "/out").takeAll()
        XCTAssertEqual(back, rows)
        let perKey = try await Dataset.readCSV(folder + "/out").groupBy("key").count().takeAll()
        XCTAssertEqual(perKey.map { $0["count()"].int! }, [600, 600, 600, 600, 600])
    }

    struct Sale: Codable, Equatable {
        var region: String
        var amount: Double
        var units: Int
        var note: String?
    }

    func testCodableRecordsInAndOut() async throws {
        let sales = [Sale(region: "eu", amount: 2.5, units: 3, note: nil), Sale(region: "us", amount: 4, units: 1, note: "rush")]
        let ds = try Dataset.fromItems(sales + sales, blocks: 2).withColumn("total", col("amount") * col("units"))
        let rows = try await ds.takeAll()
        XCTAssertEqual(rows[0].names, ["amount", "region", "units", "note", "total"], "a nil optional is left out of its record; its column comes when first seen")
        XCTAssertEqual(rows[0]["note"], .null)
        XCTAssertEqual(rows[1]["total"], 4.0)
        let decoded = try await ds.takeAll(as: Sale.self)
        XCTAssertEqual(decoded, sales + sales)
        struct Wrong: Decodable { var units: String }
        do {
            _ = try await ds.take(1, as: Wrong.self)
            XCTFail("units is a number")
        } catch {
            XCTAssertTrue("\(error)".contains("units"), "\(error)")
        }
        XCTAssertThrowsError(try Dataset.fromItems([[1, 2]])) { XCTAssertTrue("\($0)".contains("not a flat record"), "\($0)") }

        let totals = try await Dataset.fromItems(sales + sales + sales, blocks: 1).mapBatches(SaleTotals(), batchSize: 4)
            .takeAll(as: SaleTotals.Total.self)
        XCTAssertEqual(totals.map(\.total), [7.5, 4, 7.5, 4, 7.5, 4])
        XCTAssertEqual(totals.map(\.batch), [4, 4, 4, 4, 2, 2], "batches of 4 records, the last one short")
    }

    func testErrorsNameTheProblem() async throws {
        XCTAssertThrowsError(try Dataset.readCSV(folder + "/nothing-here.csv")) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
        try "a,b\n1,2\n3\n".write(toFile: "\(folder)/bad.csv", atomically: true, encoding: .utf8)
        do {
            _ = try await Dataset.readCSV(folder + "/bad.csv").takeAll()
            XCTFail("a bad line is an error")
        } catch {
            XCTAssertTrue("\(error)".contains("line 3: 1 fields, the header has 2"), "\(error)")
        }
        do {
            _ = try await Dataset.range(10).filter(col("nope") > 1).count()
            XCTFail("an unknown column is an error")
        } catch {
            XCTAssertTrue("\(error)".contains("no column named 'nope'"), "\(error)")
        }
        do {
            _ = try await Dataset.range(100, blocks: 2).mapBatches(BatchSizes(poison: 70)).takeAll()
            XCTFail("a throwing transform fails the dataset")
        } catch {
            XCTAssertTrue("\(error)".contains("poisoned batch"), "\(error)")
        }
    }
}
