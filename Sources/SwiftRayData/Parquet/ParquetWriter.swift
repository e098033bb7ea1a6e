/// How `Dataset.writeParquet` writes each file.
public struct ParquetOptions: Codable, Sendable, Equatable {
    /// The pages' codec (default snappy, as pyarrow's).
    public var compression: ParquetCompression
    /// Dictionary-encode columns whose distinct values fit in a 1 MiB dictionary page (pyarrow's
    /// default); PLAIN otherwise.
    public var useDictionary: Bool
    /// Target uncompressed bytes per data page.
    public var pageBytes: Int

    public init(compression: ParquetCompression = .snappy, useDictionary: Bool = true, pageBytes: Int = 1 << 20) {
        self.compression = compression
        self.useDictionary = useDictionary
        self.pageBytes = pageBytes
    }
}

/// Writes a block as a Parquet file of one row group: every column OPTIONAL (nulls as definition
/// levels), integers INT64, doubles DOUBLE, Booleans BOOLEAN, strings BYTE_ARRAY annotated UTF-8;
/// data pages v1. Vectors are refused (Parquet holds them as nested lists; this writes flat schemas).
enum ParquetWriter {
    static func file(_ block: Block, options: ParquetOptions) throws -> [UInt8] {
        var out = ParquetFooter.magic
        var chunks: [Thrift.Value] = []
        var schema: [Thrift.Value] = [.structure(Thrift.Struct(fields: [4: .binary(Array("schema".utf8)), 5: .int(Int64(block.names.count))]))]
        var totalBytes: Int64 = 0
        for (name, column) in zip(block.names, block.columns) {
            let writer = try ColumnChunkWriter(name: name, column: column, options: options)
            schema.append(.structure(writer.schemaElement))
            let (chunk, uncompressed) = try writer.write(to: &out)
            chunks.append(.structure(chunk))
            totalBytes += uncompressed
        }
        let rowGroup = Thrift.Struct(fields: [1: .list(elementType: Thrift.TypeCode.structure, chunks), 2: .long(totalBytes), 3: .long(Int64(block.rowCount))])
        let meta = Thrift.Struct(fields: [
            1: .int(1),
            2: .list(elementType: Thrift.TypeCode.structure, schema),
            3: .long(Int64(block.rowCount)),
            4: .list(elementType: Thrift.TypeCode.structure, [.structure(rowGroup)]),
            6: .binary(Array("swift-ray".utf8)),
        ])
        var footer = Thrift.Writer()
        footer.write(meta)
        out += footer.bytes
        withUnsafeBytes(of: UInt32(footer.bytes.count).littleEndian) { out.append(contentsOf: $0) }
        out += ParquetFooter.magic
        return out
    }
}

/// One column's chunk: an optional dictionary page, then data pages of about `pageBytes`.
struct ColumnChunkWriter {
    let name: String
    let column: Column
    let options: ParquetOptions
    let type: ParquetFooter.PhysicalType
    /// Rows holding a value (not null), in order.
    let validRows: [Int]
    /// Dictionary values and each row's index into them, when dictionary-encoded.
    let dictionary: (values: Column, codes: [UInt32])?

    init(name: String, column: Column, options: ParquetOptions) throws {
        self.name = name
        self.column = column
        self.options = options
        switch column.storage {
        case .int64: type = .int64
        case .double: type = .double
        case .bool: type = .boolean
        case .string: type = .byteArray
        case .floatVector: throw DataError.invalid("Parquet: column \(name) holds vectors; only flat columns are written (drop or split it first)")
        }
        validRows = (0..<column.count).filter { !column.isNull($0) }
        dictionary = options.useDictionary && type != .boolean ? DictionaryBuilder.build(column, maxBytes: 1 << 20) : nil
    }

    var schemaElement: Thrift.Struct {
        var element = Thrift.Struct(fields: [1: .int(type.rawValue), 3: .int(1), 4: .binary(Array(name.utf8))])
        if type == .byteArray {
            element[6] = .int(0)  // converted type UTF8
            element[10] = .structure(Thrift.Struct(fields: [1: .structure(Thrift.Struct())]))  // logical type STRING
        }
        return element
    }

    /// Appends the chunk's pages to `out`; returns its `ColumnChunk` and uncompressed size.
    func write(to out: inout [UInt8]) throws -> (Thrift.Struct, Int64) {
        let start = out.count
        var uncompressed = 0
        var dictionaryOffset: Int?
        if let dictionary {
            dictionaryOffset = out.count
            let plain = PlainEncoder.bytes(dictionary.values, rows: Array(0..<dictionary.values.count)[...])
            uncompressed += try page(plain, &out, header: [1: .int(ParquetCode.PageType.dictionary)], detail: (7, Thrift.Struct(fields: [
                1: .int(Int64(dictionary.values.count)), 2: .int(ParquetCode.Encoding.plainDictionary),
            ])))
        }
        let dataOffset = out.count
        let rowsPerPage = Swift.max(1, options.pageBytes / Swift.max(1, column.byteCount / Swift.max(1, column.count)))
        var valid = validRows[...]
        for pageStart in stride(from: 0, to: Swift.max(column.count, 1), by: rowsPerPage) {
            let rows = pageStart..<Swift.min(pageStart + rowsPerPage, column.count)
            let end = valid.firstIndex { $0 >= rows.upperBound } ?? valid.endIndex
            let pageValid = valid[..<end]
            valid = valid[end...]
            var body = definitionLevels(rows, pageValid)
            if let dictionary {
                let width = RLEHybrid.width(for: dictionary.values.count - 1)
                body.append(UInt8(width))
                body += RLEHybrid.encode(pageValid.map { dictionary.codes[$0] }, width: width)
            } else {
                body += PlainEncoder.bytes(column, rows: pageValid)
            }
            uncompressed += try page(body, &out, header: [1: .int(ParquetCode.PageType.data)], detail: (5, Thrift.Struct(fields: [
                1: .int(Int64(rows.count)), 2: .int(dictionary == nil ? ParquetCode.Encoding.plain : ParquetCode.Encoding.rleDictionary),
                3: .int(ParquetCode.Encoding.rle), 4: .int(ParquetCode.Encoding.rle),
            ])))
        }
        let encodings: [Int64] = dictionary == nil ? [ParquetCode.Encoding.plain, ParquetCode.Encoding.rle]
            : [ParquetCode.Encoding.plain, ParquetCode.Encoding.rle, ParquetCode.Encoding.rleDictionary]
        var meta = Thrift.Struct(fields: [
            1: .int(type.rawValue),
            2: .list(elementType: Thrift.TypeCode.i32, encodings.map { .int($0) }),
            3: .list(elementType: Thrift.TypeCode.binary, [.binary(Array(name.utf8))]),
            4: .int(options.compression.code),
            5: .long(Int64(column.count)),
            6: .long(Int64(uncompressed)),
            7: .long(Int64(out.count - start)),
            9: .long(Int64(dataOffset)),
            12: .structure(Thrift.Struct(fields: [3: .long(Int64(column.count - validRows.count))])),  // null count
        ])
        if let dictionaryOffset { meta[11] = .long(Int64(dictionaryOffset)) }
        return (Thrift.Struct(fields: [2: .long(Int64(start)), 3: .structure(meta)]), Int64(uncompressed))
    }

    /// Definition levels of a v1 page, length-prefixed (1 = value, 0 = null).
    private func definitionLevels(_ rows: Range<Int>, _ valid: ArraySlice<Int>) -> [UInt8] {
        var levels = [UInt32](repeating: 0, count: rows.count)
        for row in valid { levels[row - rows.lowerBound] = 1 }
        let encoded = RLEHybrid.encode(levels, width: 1)
        return withUnsafeBytes(of: UInt32(encoded.count).littleEndian) { Array($0) } + encoded
    }

    /// Compresses `body`, writes its header and it; returns the bytes it takes uncompressed.
    private func page(_ body: [UInt8], _ out: inout [UInt8], header: [Int16: Thrift.Value], detail: (Int16, Thrift.Struct)) throws -> Int {
        let stored = try options.compression.compress(body)
        var fields = header
        fields[2] = .int(Int64(body.count))
        fields[3] = .int(Int64(stored.count))
        fields[detail.0] = .structure(detail.1)
        var writer = Thrift.Writer()
        writer.write(Thrift.Struct(fields: fields))
        out += writer.bytes
        out += stored
        return writer.bytes.count + body.count
    }
}

/// PLAIN values of chosen rows.
enum PlainEncoder {
    static func bytes(_ column: Column, rows: ArraySlice<Int>) -> [UInt8] {
        var out: [UInt8] = []
        switch column.storage {
        case .int64(let values):
            out.reserveCapacity(rows.count * 8)
            for row in rows { withUnsafeBytes(of: values[row].littleEndian) { out.append(contentsOf: $0) } }
        case .double(let values):
            out.reserveCapacity(rows.count * 8)
            for row in rows { withUnsafeBytes(of: values[row].bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        case .bool(let values):
            out = [UInt8](repeating: 0, count: (rows.count + 7) / 8)
            for (i, row) in rows.enumerated() where values[row] { out[i >> 3] |= 1 << UInt8(i & 7) }
        case .string(let strings):
            for row in rows {
                let length = strings.offsets[row + 1] - strings.offsets[row]
                withUnsafeBytes(of: UInt32(length).littleEndian) { out.append(contentsOf: $0) }
                out += strings.bytes[strings.offsets[row]..<strings.offsets[row + 1]]
            }
        case .floatVector:
            break
        }
        return out
    }
}

/// Builds a column's dictionary: distinct non-null values in first-seen order and each row's code.
enum DictionaryBuilder {
    /// Nil when the dictionary's PLAIN bytes would pass `maxBytes` or it saves nothing.
    static func build(_ column: Column, maxBytes: Int) -> (values: Column, codes: [UInt32])? {
        var codes = [UInt32](repeating: 0, count: column.count)
        switch column.storage {
        case .int64(let values):
            guard let distinct = build(values.indices.lazy.filter { !column.isNull($0) }.map { values[$0] }, into: &codes, column, maxCount: maxBytes / 8) else { return nil }
            return (.ints(distinct), codes)
        case .double(let values):
            guard let distinct = build(values.indices.lazy.filter { !column.isNull($0) }.map { values[$0].bitPattern }, into: &codes, column, maxCount: maxBytes / 8) else { return nil }
            return (.doubles(distinct.map(Double.init(bitPattern:))), codes)
        case .string(let strings):
            // Keyed by the bytes' hash, compared in place: no String per row.
            var seen: [Int: [UInt32]] = [:]
            var distinct = StringStorage()
            var bytes = 0
            for row in 0..<column.count where !column.isNull(row) {
                let hash = strings.withUTF8(row) { utf8 in
                    var hasher = Hasher()
                    hasher.combine(bytes: UnsafeRawBufferPointer(utf8))
                    return hasher.finalize()
                }
                if let code = seen[hash]?.first(where: { distinct.equals(Int($0), strings, row) }) { codes[row] = code; continue }
                bytes += 4 + strings.withUTF8(row) { $0.count }
                guard bytes <= maxBytes else { return nil }
                codes[row] = UInt32(distinct.count)
                seen[hash, default: []].append(codes[row])
                strings.withUTF8(row) { distinct.append(utf8: UnsafeRawBufferPointer($0)) }
            }
            return distinct.count * 2 <= column.count ? (Column(.string(distinct)), codes) : nil
        case .bool, .floatVector:
            return nil
        }
    }

    private static func build<T: Hashable>(_ values: some Sequence<T>, into codes: inout [UInt32], _ column: Column, maxCount: Int) -> [T]? {
        var seen: [T: UInt32] = [:]
        var distinct: [T] = []
        var row = 0
        for value in values {
            while column.isNull(row) { row += 1 }
            if let code = seen[value] {
                codes[row] = code
            } else {
                guard distinct.count < maxCount else { return nil }
                codes[row] = UInt32(distinct.count)
                seen[value] = codes[row]
                distinct.append(value)
            }
            row += 1
        }
        return distinct.count * 2 <= column.count ? distinct : nil
    }
}
