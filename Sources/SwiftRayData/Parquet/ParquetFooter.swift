/// What a Parquet file's footer (`FileMetaData`) says, as far as flat schemas need it.
struct ParquetFooter {
    /// Parquet's physical types.
    enum PhysicalType: Int64 {
        case boolean = 0, int32, int64, int96, float, double, byteArray, fixedLenByteArray
    }

    /// A leaf column of the schema.
    struct ColumnSchema {
        var name: String
        var type: PhysicalType
        var typeLength: Int
        /// Optional columns carry definition levels (0 = null, 1 = value).
        var optional: Bool
    }

    /// One column's chunk in a row group.
    struct Chunk {
        var codec: Int64
        var valueCount: Int
        /// Where its first page (the dictionary page when there is one) starts, and its bytes.
        var start: Int
        var byteCount: Int
    }

    struct RowGroup {
        var rows: Int
        var bytes: Int
        var chunks: [Chunk]
    }

    var columns: [ColumnSchema]
    var rowGroups: [RowGroup]
    var rows: Int

    /// The footer of the file in `bytes`. - Throws: `DataError.io` naming `path` when it is not
    /// Parquet or its schema is nested.
    init(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        func bad(_ reason: String) -> DataError { DataError.io(path: path, reason: "not a readable Parquet file: \(reason)") }
        guard bytes.count >= 12, Array(bytes[0..<4]) == Self.magic, Array(bytes[(bytes.count - 4)...]) == Self.magic else {
            throw bad("no PAR1 magic at both ends")
        }
        let length = Int(bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt32.self).littleEndian)
        guard length <= bytes.count - 12 else { throw bad("footer length \(length) past the file") }
        var reader = Thrift.Reader(UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - 8 - length)..<(bytes.count - 8)]))
        let meta: Thrift.Struct
        do { meta = try reader.readStruct() } catch { throw bad("\(error)") }
        let schema = meta.structs(2)
        guard let root = schema.first else { throw bad("no schema") }
        var columns: [ColumnSchema] = []
        for element in schema.dropFirst() {
            let name = element.string(4) ?? ""
            guard (element.int(5) ?? 0) == 0, element.int(3) != 2, root.int(5) == Int64(schema.count - 1) else {
                throw DataError.io(path: path, reason: "Parquet column \(name) is nested: only flat schemas are read")
            }
            guard let type = element.int(1).flatMap(PhysicalType.init(rawValue:)) else { throw bad("column \(name) has no type") }
            let typeLength = Int(element.int(2) ?? 0)
            guard type != .fixedLenByteArray || (1...(1 << 20)).contains(typeLength) else { throw bad("column \(name) has values of \(typeLength) bytes") }
            columns.append(ColumnSchema(name: name, type: type, typeLength: typeLength, optional: element.int(3) == 1))
        }
        self.columns = columns
        rows = Int(meta.int(3) ?? 0)
        rowGroups = try meta.structs(4).map { group in
            let chunks = try group.structs(1).map { chunk -> Chunk in
                guard let column = chunk.structure(3) else { throw bad("a column chunk has no metadata") }
                let data = Int(column.int(9) ?? 0)
                let dictionary = column.int(11).map(Int.init)
                let start = dictionary.map { $0 > 0 && $0 < data ? $0 : data } ?? data
                let size = Int(column.int(7) ?? 0)
                let limit = bytes.count - 8 - length
                guard start >= 4, start <= limit, size >= 0, size <= limit - start else { throw bad("a column chunk lies outside the file") }
                return Chunk(codec: column.int(4) ?? 0, valueCount: Int(column.int(5) ?? 0), start: start, byteCount: size)
            }
            guard chunks.count == columns.count else { throw bad("a row group has \(chunks.count) chunks for \(columns.count) columns") }
            let rows = Int(group.int(3) ?? 0)
            // Every size below is checked against what the file holds; rows cannot be (a run of
            // nulls costs a few bytes), so a row group past this bound is refused, not allocated.
            guard (0...Self.maxRowsPerGroup).contains(rows), chunks.allSatisfy({ $0.valueCount == rows }) else {
                throw bad("a row group of \(rows) rows (at most \(Self.maxRowsPerGroup), one value per row in every column)")
            }
            return RowGroup(rows: rows, bytes: Int(group.int(2) ?? 0), chunks: chunks)
        }
    }

    static let magic: [UInt8] = Array("PAR1".utf8)
    /// The most rows a row group may have here (2^27: a gigabyte per 8-byte column).
    static let maxRowsPerGroup = 1 << 27
}

/// Thrift field numbers and enum values of the Parquet format this module writes.
enum ParquetCode {
    enum PageType { static let data: Int64 = 0, dictionary: Int64 = 2, dataV2: Int64 = 3 }
    enum Encoding { static let plain: Int64 = 0, plainDictionary: Int64 = 2, rle: Int64 = 3, rleDictionary: Int64 = 8 }
}
