import Foundation
import SwiftRay
@testable import SwiftRayData
import XCTest

/// Blocks, columns, expressions, CSV and aggregation inside one process.
final class BlockTests: XCTestCase {
    func testBlocksPackAndUnpackEveryColumnType() throws {
        let block = try Block([
            "id": .ints([1, 2, 3]),
            "x": Column(.double([0.5, .nan, -2]), validity: [true, false, true]),
            "name": .strings(["a", "", "ünï"]),
            "ok": .bools([true, false, true]),
            "v": .vectors([[1, 2], [3, 4], [5, 6]], dimension: 2),
        ])
        let bytes = block.packed()
        XCTAssertEqual(bytes.count, block.rawByteCount)
        let back = try bytes.withUnsafeBytes { try Block(rawBytes: $0) }
        XCTAssertEqual(back.rows, block.rows)
        XCTAssertEqual(back.row(1)["x"], .null)
        XCTAssertEqual(back.row(2)["name"], "ünï")
        // A cut or corrupted block is an error, not a crash.
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            XCTAssertThrowsError(try bytes.prefix(cut).withUnsafeBytes { try Block(rawBytes: UnsafeRawBufferPointer($0)) })
        }
    }

    func testStringGatherAndSliceKeepEveryString() throws {
        let column = Column.strings(["", "a", "ünï", "", "longer string", "z"])
        XCTAssertEqual(column.gather([5, 0, 2, 2]), .strings(["z", "", "ünï", "ünï"]))
        XCTAssertEqual(column.gather([]), .strings([]))
        XCTAssertEqual(column.slice(2..<5), .strings(["ünï", "", "longer string"]))
        XCTAssertEqual(column.slice(6..<6), .strings([]))
        let nullable = Column(.string(StringStorage()), validity: nil)
        XCTAssertEqual(nullable.gather([]).count, 0)
        let masked = Column(.int64([1, 2, 3, 4]), validity: [true, false, true, true])
        XCTAssertEqual(masked.slice(1..<3), Column(.int64([2, 3]), validity: [false, true]))
        XCTAssertEqual(masked.slice(2..<4).validity, nil, "a slice without nulls has no mask")
    }

    func testExpressionsComputeOverColumns() throws {
        let block = try Block(["a": .ints([1, 2, 3, 4]), "b": .doubles([0.5, 1.5, 2.5, 3.5]), "s": .strings(["x", "y", "x", "z"])])
        XCTAssertEqual(try (col("a") * 2 + col("b")).evaluate(on: block).doubles, [2.5, 5.5, 8.5, 11.5])
        XCTAssertEqual(try (col("a") % 2).evaluate(on: block), .ints([1, 0, 1, 0]))
        XCTAssertEqual(try block.filter((col("a") > 1 && col("s") == "x").mask(on: block)).rows, [block.row(2)])
        XCTAssertThrowsError(try (col("s") * 2).evaluate(on: block)) { XCTAssertTrue("\($0)".contains("type mismatch"), "\($0)") }
        XCTAssertThrowsError(try col("missing").evaluate(on: block)) { XCTAssertTrue("\($0)".contains("no column named 'missing'"), "\($0)") }
    }

    func testCSVParsesQuotesNullsTypesAndReportsBadLines() throws {
        let text = "id,price,name,flag\n1,2.5,\"a, b\",true\n2,,\"say \"\"hi\"\"\",false\r\n3,1e3,,TRUE\n"
        let parser = CSVParser(options: CSVOptions(), path: "t.csv")
        let block = try Array(text.utf8).withUnsafeBufferPointer { try parser.parse($0, names: nil) }
        XCTAssertEqual(block.schema.fields.map(\.type), [.int64, .double, .string, .bool])
        XCTAssertEqual(block.row(0), ["id": 1, "price": 2.5, "name": "a, b", "flag": true])
        XCTAssertEqual(block.row(1)["price"], .null)
        XCTAssertEqual(block.row(1)["name"], "say \"hi\"")
        XCTAssertEqual(block.row(2)["name"], .null)
        XCTAssertEqual(block.row(2)["price"], 1000.0)
        // Written and read back: the same rows.
        let written = CSVWriter.text(block, options: CSVOptions())
        let back = try written.withUnsafeBufferPointer { try parser.parse($0, names: nil) }
        XCTAssertEqual(back.rows, block.rows)
        let bad = Array("a,b\n1,2\n3\n".utf8)
        XCTAssertThrowsError(try bad.withUnsafeBufferPointer { try parser.parse($0, names: nil) }) {
            XCTAssertEqual("\($0)", "t.csv, line 3: 1 fields, the header has 2")
        }
        let unclosed = Array("a\n\"x\n".utf8)
        XCTAssertThrowsError(try unclosed.withUnsafeBufferPointer { try parser.parse($0, names: nil) })
    }

    func testDoublesParseExactly() {
        for text in ["0.1", "123.456", "-7.25e-3", "1e22", "9007199254740993", "3.141592653589793", "2.2250738585072014e-308", "nan"] {
            let parsed = Array(text.utf8).withUnsafeBufferPointer { CSVParser.double($0) }
            if text == "nan" { XCTAssertTrue(parsed?.isNaN ?? false); continue }
            XCTAssertEqual(parsed, Double(text), text)
        }
        // Shortest round-trip texts (15 to 17 digits, as Python and Swift print them) and long ones
        // parse to the same bits as the standard library's parser.
        var generator = SeededRandom(seed: 11)
        for _ in 0..<60_000 {
            let value = Double(bitPattern: generator.next() & 0x3FEF_FFFF_FFFF_FFFF) * (generator.next() % 2 == 0 ? 1 : 1e6)
            for text in [value.description, String(format: "%.19g", value), String(format: "%.12f", value)] {
                let parsed = Array(text.utf8).withUnsafeBufferPointer { CSVParser.double($0) }
                XCTAssertEqual(parsed?.bitPattern, Double(text)?.bitPattern, text)
            }
        }
        XCTAssertNil(Array("1.2.3".utf8).withUnsafeBufferPointer { CSVParser.double($0) })
        XCTAssertNil(Array("99999999999999999999".utf8).withUnsafeBufferPointer { CSVParser.int($0) })
    }

    func testPartialAggregatesCombineToTheWholeAnswer() throws {
        let keys: [Int64] = (0..<1000).map { Int64($0 % 7) }
        let values: [Double] = (0..<1000).map { Double($0) * 0.37 }
        let whole = try Block(["k": .ints(keys), "x": .doubles(values), "n": .ints((0..<1000).map { Int64($0) })])
        let aggregation = GroupedAggregation(keys: ["k"], aggregates: [.count(), .sum("x"), .mean("x"), .min("n"), .max("n"), .std("x"), .sum("n")])
        let partials = try [whole.slice(0..<300), whole.slice(300..<301), whole.slice(301..<1000)].map { try aggregation.partial($0) }
        let combined = try aggregation.combine(Block.concat(partials), types: ["n": .int64])
        XCTAssertEqual(combined.rowCount, 7)
        for g in 0..<7 {
            let xs = values.enumerated().filter { $0.offset % 7 == g }.map(\.element)
            let mean = xs.reduce(0, +) / Double(xs.count)
            let std = (xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
            let row = combined.row(g)
            XCTAssertEqual(row["k"], .int(Int64(g)))
            XCTAssertEqual(row["count()"], .int(Int64(xs.count)))
            XCTAssertEqual(row["sum(x)"].double!, xs.reduce(0, +), accuracy: 1e-6)
            XCTAssertEqual(row["mean(x)"].double!, mean, accuracy: 1e-9)
            XCTAssertEqual(row["std(x)"].double!, std, accuracy: 1e-9)
            XCTAssertEqual(row["min(n)"], .int(Int64(g)))
            XCTAssertEqual(row["sum(n)"], .int(Int64((0..<1000).filter { $0 % 7 == g }.reduce(0, +))))
        }
    }

    func testChainsReadOnlyTheColumnsTheyNeed() throws {
        let chain: [StageOperation] = [
            .withColumn("c", col("a") + col("b")), .filter(col("c") > 1), .rename(["k": "key"]),
            .partialAggregate(keys: ["key"], [.sum("c"), .count()]),
        ]
        XCTAssertEqual(StageOperation.inputColumns(of: chain, end: nil), ["a", "b", "k"])
        XCTAssertNil(StageOperation.inputColumns(of: [.filter(col("a") > 1)], end: nil), "a block that leaves whole needs every column")
        XCTAssertNil(StageOperation.inputColumns(of: [.mapBatches(try ShippedFunction(0), batchSize: nil), .select(["a"])], end: nil), "an opaque transform needs every column")
        XCTAssertEqual(StageOperation.inputColumns(of: [.select(["a"]), .mapBatches(try ShippedFunction(0), batchSize: nil)], end: nil), ["a"])
        let text = Array("a,b,c\n1,x,2.5\n".utf8)
        let block = try text.withUnsafeBufferPointer { try CSVParser(options: CSVOptions(), path: "p").parse($0, names: nil, keep: ["c", "a"]) }
        XCTAssertEqual(block.names, ["a", "c"])
        XCTAssertEqual(block.row(0), ["a": 1, "c": 2.5])
    }
}
