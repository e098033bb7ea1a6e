import Foundation

/// What one read task makes a block from.
enum ReadTask: Codable, Sendable {
    /// Rows `start..<start+count` of `range(n)`: one column `id`.
    case range(start: Int, count: Int)
    /// Rows given by the driver.
    case items(Block)
    /// The lines of a CSV file starting in `start..<end` (the header read from the file's first line).
    case csv(path: String, start: Int, end: Int, options: CSVOptions)
    /// The lines of a text file starting in `start..<end`: one column `text`.
    case text(path: String, start: Int, end: Int)
    /// A JSON object per line.
    case jsonLines(path: String, start: Int, end: Int)
    /// A whole file: one row, columns `path` and `bytes` (the raw bytes in a string column's
    /// storage: `StringStorage.withUTF8` reads them).
    case binary(path: String)
    /// Row groups of a Parquet file (all when nil).
    case parquet(path: String, rowGroups: Range<Int>?)

    /// The block; a CSV or Parquet read decodes only `columns` when given.
    func read(columns keep: Set<String>? = nil) throws -> Block {
        switch self {
        case .range(let start, let count):
            return Block(unchecked: ["id"], [.ints((start..<(start + count)).map(Int64.init))], rows: count)
        case .items(let block):
            return block
        case .csv(let path, let start, let end, let options):
            let parser = CSVParser(options: options, path: path)
            var names: [String]?
            if start > 0, options.header, options.columnNames == nil {
                let header = try FileSources.firstLine(path)
                names = try header.withUnsafeBufferPointer { try parser.parse($0, names: nil).names }
            }
            return try FileSources.withMappedLines(path, start..<end) { try parser.parse($0, names: names, firstLine: names == nil ? 1 : 0, keep: keep) }
        case .text(let path, let start, let end):
            let bytes = try FileSources.lines(path, start..<end)
            var storage = StringStorage()
            for line in bytes.split(separator: 10, omittingEmptySubsequences: false).dropLast(bytes.last == 10 ? 1 : 0) {
                let trimmed = line.last == 13 ? line.dropLast() : line
                trimmed.withUnsafeBytes { storage.append(utf8: $0) }
            }
            return Block(unchecked: ["text"], [Column(.string(storage))], rows: storage.count)
        case .jsonLines(let path, let start, let end):
            let bytes = try FileSources.lines(path, start..<end)
            var rows: [Row] = []
            for (number, line) in bytes.split(separator: 10).enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
                rows.append(try JSONRows.row(Data(line), path: path, line: number + 1))
            }
            return Block(rows: rows)
        case .binary(let path):
            let bytes = try FileSources.contents(path)
            var storage = StringStorage()
            bytes.withUnsafeBytes { storage.append(utf8: $0) }
            return Block(unchecked: ["path", "bytes"], [.strings([path]), Column(.string(storage))], rows: 1)
        case .parquet(let path, let groups):
            return try ParquetReader.read(path, rowGroups: groups, columns: keep)
        }
    }
}

/// Rows as JSON objects (JSON lines files).
enum JSONRows {
    static func row(_ data: Data, path: String, line: Int) throws -> Row {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw DataError.parse(path: path, line: line, reason: "not a JSON object")
        }
        var row = Row()
        for key in object.keys.sorted() { row[key] = value(object[key]) }
        return row
    }

    /// The row as a JSON object.
    static func object(_ row: Row) -> [String: Any] {
        var object: [String: Any] = [:]
        for (name, value) in zip(row.names, row.values) {
            switch value {
            case .null: object[name] = NSNull()
            case .int(let v): object[name] = v
            case .double(let v): object[name] = v
            case .string(let v): object[name] = v
            case .bool(let v): object[name] = v
            case .vector(let v): object[name] = v
            }
        }
        return object
    }

    private static func value(_ any: Any?) -> Value {
        switch any {
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": return .bool(number.boolValue)
            case "d", "f": return .double(number.doubleValue)
            default: return .int(number.int64Value)
            }
        case let string as String: return .string(string)
        case let array as [Any]:
            let floats = array.compactMap { ($0 as? NSNumber)?.floatValue }
            return floats.count == array.count ? .vector(floats) : .string("\(array)")
        default: return .null
        }
    }

    /// One JSON object per row.
    static func text(_ block: Block) throws -> [UInt8] {
        var out: [UInt8] = []
        for row in 0..<block.rowCount {
            out += try JSONSerialization.data(withJSONObject: object(block.row(row)), options: [.sortedKeys])
            out.append(10)
        }
        return out
    }
}

extension Row {
    /// An empty row.
    public init() { self.init(names: [], values: []) }

    /// A row from an `Encodable` value: its keys (sorted) are the columns, numbers, strings,
    /// Booleans, nulls and arrays of numbers (vectors) the values.
    /// - Throws: `DataError.invalid` when the value does not encode as a flat JSON object.
    public init<T: Encodable>(encoding value: T) throws {
        do {
            self = try JSONRows.row(try JSONEncoder().encode(value), path: "\(T.self)", line: 1)
        } catch let error as DataError {
            throw DataError.invalid("\(T.self) is not a flat record: \(error)")
        }
    }

    /// The row as a `Decodable` value, its properties matched to the columns by name.
    /// - Throws: `DecodingError` naming the property that does not fit.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: try JSONSerialization.data(withJSONObject: JSONRows.object(self)))
    }
}
