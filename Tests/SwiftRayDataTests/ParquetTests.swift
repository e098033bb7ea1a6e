import Foundation
import RayTesting
import SwiftRay
import SwiftRayData
import XCTest

/// pyarrow (installed by `.ci/run`) as the oracle: files it writes read here, files written here
/// read by it, values compared one by one.
enum PyArrow {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = package.appendingPathComponent("Tests/SwiftRayDataTests/parquet_oracle.py").path

    static func python() throws -> String {
        let candidates = [
            ProcessInfo.processInfo.environment["SWIFTRAY_ORACLE_PYTHON"],
            package.appendingPathComponent(".build/python-oracles/bin/python").path,
        ].compactMap { $0 }
        guard let python = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
              try RayTesting.runProcess(python, ["-c", "import pyarrow"]).status == 0 else {
            throw XCTSkip("pyarrow is not installed (.ci/run installs it in .build/python-oracles)")
        }
        return python
    }

    /// Writes the oracle's files into `folder`; returns their expected values by file and column.
    static func writeFiles(_ folder: String) throws -> [String: [String: [Any]]] {
        let result = try RayTesting.runProcess(try python(), [script, "write", folder])
        XCTAssertEqual(result.status, 0, result.output)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/expected.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: [String: [Any]]])
    }

    /// What pyarrow reads from `paths`: values, arrow types, rows and row groups per file.
    static func read(_ paths: [String]) throws -> [String: [String: Any]] {
        let result = try RayTesting.runProcess(try python(), [script, "read"] + paths)
        XCTAssertEqual(result.status, 0, result.output)
        let json = try XCTUnwrap(result.output.split(separator: "\n").last, result.output)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [String: Any]])
    }

    /// Whether `value` (ours) is what pyarrow gave (`expected`, from JSON).
    static func same(_ value: Value, _ expected: Any) -> Bool {
        switch value {
        case .null: return expected is NSNull
        case .int(let v): return (expected as? NSNumber)?.int64Value == v
        case .double(let v): return (expected as? NSNumber)?.doubleValue == v
        case .string(let v): return expected as? String == v
        case .bool(let v): return (expected as? NSNumber)?.boolValue == v && !(expected is String)
        case .vector: return false
        }
    }

    static func assertEqual(_ block: Block, _ expected: [String: [Any]], file: String, line: UInt = #line) {
        XCTAssertEqual(Set(block.names), Set(expected.keys), file, line: line)
        for (name, values) in expected {
            guard let column = block[name] else { continue }
            XCTAssertEqual(column.count, values.count, "\(file) \(name)", line: line)
            let bad = (0..<Swift.min(column.count, values.count)).first { !same(column[$0], values[$0]) }
            XCTAssertNil(bad, "\(file) \(name) row \(bad ?? -1): \(bad.map { "\(column[$0]) vs \(values[$0])" } ?? "")", line: line)
        }
    }
}

/// A block of every flat type, with nulls, repeated strings (dictionary-worthy) and unique ones.
func sampleBlock(rows: Int) throws -> Block {
    let ids = (0..<rows).map(Int64.init)
    return try Block([
        "id": .ints(ids),
        "small": Column(values: ids.map { $0 % 7 == 0 ? .null : .int($0 % 100) }),
        "price": Column(values: ids.map { $0 % 11 == 0 ? .null : .double(Double($0) * 0.25 - 3.5) }),
        "flag": Column(values: ids.map { $0 % 13 == 0 ? .null : .bool($0 % 3 == 0) }),
        "name": Column(values: ids.map { $0 % 5 == 0 ? .null : .string("name-\($0 % 37)-é") }),
        "unique": .strings(ids.map { "u\($0 * 7919)" }),
    ])
}

/// Parquet in this process: files from pyarrow, files for pyarrow, bad files.
final class ParquetFileTests: XCTestCase {
    var folder = ""

    override func setUp() async throws {
        folder = NSTemporaryDirectory() + "swiftray-parquet-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Snappy + dictionary + v1 pages, gzip + PLAIN + v2 pages, uncompressed + dictionary + v2,
    /// many row groups and small pages: every value as pyarrow wrote it (int32 and float32 widened).
    func testReadsWhatPyarrowWrote() throws {
        let expected = try PyArrow.writeFiles(folder)
        XCTAssertEqual(expected.count, 4)
        for (name, columns) in expected {
            let block = try ParquetFile.read("\(folder)/\(name)")
            PyArrow.assertEqual(block, columns, file: name)
            XCTAssertEqual(block.schema.fields.map(\.type), [.int64, .int64, .double, .double, .bool, .string, .string], name)
        }
        XCTAssertGreaterThan(try ParquetFile.rowGroupSizes("\(folder)/snappy_groups.parquet").count, 4)
        let projected = try ParquetFile.read("\(folder)/snappy_dict_v1.parquet", columns: ["name", "id"])
        XCTAssertEqual(projected.names, ["name", "id"])
        XCTAssertThrowsError(try ParquetFile.read("\(folder)/snappy_dict_v1.parquet", columns: ["nope"]))
    }

    /// Every codec with and without dictionaries, pages small enough to need several: pyarrow reads
    /// the same values and types (nullable int64, double, bool, string).
    func testPyarrowReadsWhatIsWrittenHere() throws {
        let block = try sampleBlock(rows: 5000)
        var paths: [String] = []
        for compression in ParquetCompression.allCases {
            for dictionary in [true, false] {
                let path = "\(folder)/\(compression.rawValue)-\(dictionary).parquet"
                try ParquetFile.write(block, to: path, options: ParquetOptions(compression: compression, useDictionary: dictionary, pageBytes: 8192))
                XCTAssertEqual(try ParquetFile.read(path), block, path)
                paths.append(path)
            }
        }
        let read = try PyArrow.read(paths)
        for path in paths {
            let file = try XCTUnwrap(read[path], path)
            XCTAssertEqual(file["rows"] as? Int, 5000)
            XCTAssertEqual(file["types"] as? [String: String],
                           ["id": "int64", "small": "int64", "price": "double", "flag": "bool", "name": "string", "unique": "string"])
            let values = try XCTUnwrap(file["values"] as? [String: [Any]])
            PyArrow.assertEqual(block, values, file: path)
        }
        let sizes = try paths.map { try fileSize($0) }
        XCTAssertLessThan(sizes[2], sizes[1], "snappy + dictionary smaller than uncompressed PLAIN")
    }

    /// Empty blocks and all-null columns make valid files both ways.
    func testEmptyAndAllNull() throws {
        let empty = try Block(["a": .ints([]), "s": .strings([])])
        let nulls = try Block(["a": Column(.int64([0, 0, 0]), validity: [false, false, false]), "s": .strings(["x", "x", "x"])])
        for (name, block) in [("empty", empty), ("nulls", nulls)] {
            let path = "\(folder)/\(name).parquet"
            try ParquetFile.write(block, to: path)
            XCTAssertEqual(try ParquetFile.read(path), block)
            let read = try PyArrow.read([path])  // outside the assertion: a missing pyarrow skips
            XCTAssertEqual(read[path]?["rows"] as? Int, block.rowCount)
        }
    }

    /// Not Parquet, truncated, a codec not supported, vectors, and thousands of files with random
    /// bytes changed: each a `DataError`, never a crash or a hang.
    func testBadFilesAreTypedErrors() throws {
        _ = try PyArrow.writeFiles(folder)
        let garbage = "\(folder)/garbage.parquet"
        try Data("PAR1 this is not a parquet file PAR1".utf8).write(to: URL(fileURLWithPath: garbage))
        XCTAssertThrowsError(try ParquetFile.read(garbage)) { XCTAssertTrue($0 is DataError, "\($0)") }
        XCTAssertThrowsError(try ParquetFile.read("\(folder)/zstd.unsupported")) { error in
            XCTAssertTrue("\(error)".contains("ZSTD"), "\(error)")
        }
        let vectors = try Block(["v": .vectors([[1, 2]], dimension: 2)])
        XCTAssertThrowsError(try ParquetFile.write(vectors, to: "\(folder)/v.parquet")) { XCTAssertTrue("\($0)".contains("vectors"), "\($0)") }

        let original = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/snappy_dict_v1.parquet"))
        let mutated = "\(folder)/mutated.parquet"
        var generator = SplitMix(seed: 42)
        var failures = 0
        for round in 0..<300 {
            var bytes = [UInt8](original)
            if round % 10 == 0 {
                bytes.removeLast(Int(generator.next() % UInt64(bytes.count)))
            } else {
                for _ in 0..<(1 + Int(generator.next() % 8)) {
                    bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: mutated))
            do { _ = try ParquetFile.read(mutated) } catch is DataError { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 25, "mutations were detected")
    }
}

/// Parquet through datasets on a real local cluster: read tasks in workers, projection, writes.
final class ParquetDatasetTests: XCTestCase {
    var folder = ""

    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        folder = NSTemporaryDirectory() + "swiftray-parquet-ds-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder + "/in", withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// pyarrow's files as a folder → filter → a column added → written as Parquet by the workers →
    /// pyarrow reads exactly the rows computed here from the same input.
    func testReadTransformWriteThroughWorkers() async throws {
        let expected = try PyArrow.writeFiles(folder + "/in")
        try FileManager.default.removeItem(atPath: folder + "/in/expected.json")
        try FileManager.default.removeItem(atPath: folder + "/in/zstd.unsupported")
        let ds = try Dataset.readParquet(folder + "/in")
        let total = expected.values.reduce(0) { $0 + ($1["id"]?.count ?? 0) }
        let count = try await ds.count()
        XCTAssertEqual(count, total)
        let out = try await ds.filter(col("flag") == true).withColumn("twice", col("id") * 2).selectColumns("id", "twice", "name")
            .writeParquet(folder + "/out", options: ParquetOptions(compression: .gzip))
        XCTAssertEqual(out.count, 4)
        XCTAssertEqual(out.map { URL(fileURLWithPath: $0).lastPathComponent }, (0..<4).map { String(format: "part_%06d.parquet", $0) })
        let read = try PyArrow.read(out)
        var ids: [Int64] = []
        for path in out {
            let values = try XCTUnwrap(read[path]?["values"] as? [String: [Any]])
            let got: [Int64] = try XCTUnwrap(values["id"]).map { ($0 as! NSNumber).int64Value }
            let twice: [Int64] = try XCTUnwrap(values["twice"]).map { ($0 as! NSNumber).int64Value }
            XCTAssertEqual(twice, got.map { $0 * 2 })
            ids += got
        }
        var flagged: [Int64] = []
        for columns in expected.values {
            for (id, flag) in zip(columns["id"]!, columns["flag"]!) where (flag as? Bool) == true { flagged.append((id as! NSNumber).int64Value) }
        }
        XCTAssertEqual(ids.sorted(), flagged.sorted())

        // A file larger than the target block size is read as runs of row groups, in order.
        let saved = DataContext.current
        defer { DataContext.current = saved }
        DataContext.current.targetBlockBytes = 20_000
        var blocks = 0, rows: [Int64] = []
        for try await block in try Dataset.readParquet(folder + "/in/snappy_groups.parquet").selectColumns("id").iterBlocks() {
            blocks += 1
            if case .int64(let values) = try block.column("id").storage { rows += values }
        }
        XCTAssertGreaterThan(blocks, 2)
        XCTAssertEqual(rows, try XCTUnwrap(expected["snappy_groups.parquet"]?["id"]).map { ($0 as! NSNumber).int64Value })
    }
}

/// A small seeded generator (SplitMix64) so the mutations replay.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

private func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
}
