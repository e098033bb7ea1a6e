/// Reads flat Parquet files into blocks: PLAIN and dictionary encodings, data pages v1 and v2,
/// uncompressed, snappy and gzip; optional columns' nulls become validity masks. INT32 and INT64
/// read as integers, FLOAT and DOUBLE as doubles, BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY as strings
/// (their bytes), INT96 timestamps as nanoseconds since 1970.
enum ParquetReader {
    /// Rows and bytes of each row group of `path` (to plan read tasks).
    static func rowGroups(_ path: String) throws -> [(rows: Int, bytes: Int)] {
        try FileSources.withMappedFile(path) { file in
            try ParquetFooter(file, path: path).rowGroups.map { ($0.rows, $0.bytes) }
        }
    }

    /// Consecutive row groups in runs of about `target` bytes (at least one group each).
    static func groupRuns(_ groups: [(rows: Int, bytes: Int)], target: Int) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start = 0, bytes = 0
        for (index, group) in groups.enumerated() {
            if index > start, bytes + group.bytes > target {
                runs.append(start..<index)
                start = index
                bytes = 0
            }
            bytes += group.bytes
        }
        if start < groups.count || runs.isEmpty { runs.append(start..<groups.count) }
        return runs
    }

    /// Row groups `groups` (all when nil) of `path` as one block, only the columns in `keep` when given.
    static func read(_ path: String, rowGroups groups: Range<Int>? = nil, columns keep: Set<String>? = nil) throws -> Block {
        try FileSources.withMappedFile(path) { file in
            let footer = try ParquetFooter(file, path: path)
            let range = groups ?? 0..<footer.rowGroups.count
            guard range.lowerBound >= 0, range.upperBound <= footer.rowGroups.count else {
                throw DataError.io(path: path, reason: "Parquet row groups \(range) of \(footer.rowGroups.count)")
            }
            let wanted = footer.columns.indices.filter { keep?.contains(footer.columns[$0].name) ?? true }
            var blocks: [Block] = []
            for group in footer.rowGroups[range] {
                let columns = try wanted.map { index in
                    do {
                        return try ChunkDecoder(column: footer.columns[index], chunk: group.chunks[index], path: path).decode(file, rows: group.rows)
                    } catch let error as DataError {
                        throw DataError.io(path: path, reason: "column \(footer.columns[index].name): \(error)")
                    }
                }
                blocks.append(Block(unchecked: wanted.map { footer.columns[$0].name }, columns, rows: group.rows))
            }
            if blocks.isEmpty {
                let names = wanted.map { footer.columns[$0].name }
                return Block(unchecked: names, wanted.map { ValueBuffer(footer.columns[$0].type).column(validity: nil) }, rows: 0)
            }
            return Block.concat(blocks)
        }
    }
}

/// Values of one column as they are decoded (non-null values only): one typed array is used, by
/// the column's physical type.
struct ValueBuffer {
    /// Which of the arrays holds the values.
    enum Kind { case ints, doubles, bools, strings }

    let kind: Kind
    var ints: [Int64] = []
    var doubles: [Double] = []
    var bools: [Bool] = []
    var strings = StringStorage()

    init(_ type: ParquetFooter.PhysicalType) {
        kind = switch type {
        case .boolean: .bools
        case .int32, .int64, .int96: .ints
        case .float, .double: .doubles
        case .byteArray, .fixedLenByteArray: .strings
        }
    }

    var count: Int {
        switch kind {
        case .ints: ints.count
        case .doubles: doubles.count
        case .bools: bools.count
        case .strings: strings.count
        }
    }

    /// `count` PLAIN-encoded values of `column`'s type from `bytes[position...]`.
    mutating func appendPlain(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, count: Int, _ column: ParquetFooter.ColumnSchema) throws {
        switch column.type {
        case .boolean:
            try Self.need((count + 7) / 8, bytes, position)
            let start = position
            bools += (0..<count).lazy.map { i in (bytes[start + i >> 3] >> UInt8(i & 7)) & 1 == 1 }
            position += (count + 7) / 8
        case .int32:
            try Self.fixed(bytes, &position, count: count, width: 4, into: &ints) { Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0, as: Int32.self))) }
        case .int64:
            try Self.copy(bytes, &position, count: count, into: &ints)
        case .int96:
            try Self.fixed(bytes, &position, count: count, width: 12, into: &ints) { at in
                let nanos = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: Int64.self))
                let day = Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: at + 8, as: Int32.self)))
                return (day - 2_440_588) &* 86_400_000_000_000 &+ nanos
            }
        case .float:
            try Self.fixed(bytes, &position, count: count, width: 4, into: &doubles) { Double(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: $0, as: UInt32.self)))) }
        case .double:
            try Self.copy(bytes, &position, count: count, into: &doubles)
        case .byteArray:
            for _ in 0..<count {
                try Self.need(4, bytes, position)
                let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
                position += 4
                try Self.need(length, bytes, position)
                strings.append(utf8: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)]))
                position += length
            }
        case .fixedLenByteArray:
            let length = column.typeLength
            try Self.need(count * length, bytes, position)
            for i in 0..<count { strings.append(utf8: UnsafeRawBufferPointer(rebasing: bytes[(position + i * length)..<(position + (i + 1) * length)])) }
            position += count * length
        }
    }

    /// The dictionary's values at `indices`.
    mutating func appendIndexed(_ dictionary: ValueBuffer, _ indices: [UInt32]) throws {
        let size = dictionary.count
        guard dictionary.kind == kind else { throw DataError.invalid("Parquet: a dictionary of another type than the column") }
        guard indices.allSatisfy({ Int($0) < size }) else { throw DataError.invalid("Parquet: dictionary index past its \(size) values") }
        switch kind {
        case .ints: ints += indices.lazy.map { dictionary.ints[Int($0)] }
        case .doubles: doubles += indices.lazy.map { dictionary.doubles[Int($0)] }
        case .bools: bools += indices.lazy.map { dictionary.bools[Int($0)] }
        case .strings:
            let d = dictionary.strings
            d.bytes.withUnsafeBytes { all in
                for index in indices {
                    let i = Int(index)
                    strings.append(utf8: UnsafeRawBufferPointer(rebasing: all[d.offsets[i]..<d.offsets[i + 1]]))
                }
            }
        }
    }

    /// Booleans decoded elsewhere (RLE-encoded pages).
    mutating func append(bools more: [Bool]) throws {
        guard kind == .bools else { throw DataError.invalid("Parquet: booleans in a column of another type") }
        bools += more
    }

    private static func need(_ n: Int, _ bytes: UnsafeRawBufferPointer, _ position: Int) throws {
        guard n >= 0, n <= bytes.count - position else { throw DataError.invalid("Parquet: PLAIN values end early") }
    }

    /// `count` values `width` bytes apart, each made by `value(offset)`.
    private static func fixed<T>(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, count: Int, width: Int, into values: inout [T], _ value: (Int) -> T) throws {
        try need(count * width, bytes, position)
        let start = position
        values += (0..<count).lazy.map { value(start + $0 * width) }
        position += count * width
    }

    /// `count` 8-byte little-endian values copied as they are (the file may not be aligned for them).
    private static func copy<T>(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, count: Int, into values: inout [T]) throws where T: BitwiseCopyable & ExpressibleByIntegerLiteral {
        try need(count * 8, bytes, position)
        guard count > 0 else { return }
        let old = values.count
        values.append(contentsOf: repeatElement(0, count: count))
        values.withUnsafeMutableBytes { out in
            out.baseAddress!.advanced(by: old * 8).copyMemory(from: bytes.baseAddress! + position, byteCount: count * 8)
        }
        position += count * 8
    }

    /// The column, nulls put back where `validity` is false (values fill the true places in order).
    func column(validity: [Bool]?) -> Column {
        guard let validity, validity.contains(false) else { return Column(storage) }
        var next = 0
        let places = validity.map { valid -> Int in
            defer { if valid { next += 1 } }
            return valid ? next : -1
        }
        func spread<T>(_ values: [T], _ zero: T) -> [T] { places.map { $0 < 0 ? zero : values[$0] } }
        switch kind {
        case .ints: return Column(.int64(spread(ints, 0)), validity: validity)
        case .doubles: return Column(.double(spread(doubles, 0)), validity: validity)
        case .bools: return Column(.bool(spread(bools, false)), validity: validity)
        case .strings:
            var out = StringStorage()
            out.reserve(strings: places.count, bytes: strings.bytes.count)
            strings.bytes.withUnsafeBytes { all in
                for place in places {
                    out.append(utf8: place < 0 ? UnsafeRawBufferPointer(rebasing: all[0..<0]) : UnsafeRawBufferPointer(rebasing: all[strings.offsets[place]..<strings.offsets[place + 1]]))
                }
            }
            return Column(.string(out), validity: validity)
        }
    }

    private var storage: Column.Storage {
        switch kind {
        case .ints: .int64(ints)
        case .doubles: .double(doubles)
        case .bools: .bool(bools)
        case .strings: .string(strings)
        }
    }
}

/// Decodes one column chunk: its pages in order, the dictionary page first when there is one.
struct ChunkDecoder {
    let column: ParquetFooter.ColumnSchema
    let chunk: ParquetFooter.Chunk
    let path: String

    func decode(_ file: UnsafeRawBufferPointer, rows: Int) throws -> Column {
        let codec = try ParquetCompression(code: chunk.codec, path: path)
        var values = ValueBuffer(column.type)
        var dictionary: ValueBuffer?
        var validity: [Bool] = []
        var levels = 0
        var position = chunk.start
        let end = chunk.start + chunk.byteCount
        while levels < chunk.valueCount, position < end {
            var reader = Thrift.Reader(UnsafeRawBufferPointer(rebasing: file[..<end]), at: position)
            let header = try reader.readStruct()
            let size = Int(header.int(2) ?? -1), stored = Int(header.int(3) ?? -1)
            guard stored >= 0, stored <= end - reader.position else { throw DataError.invalid("Parquet: page of \(stored) bytes past its chunk") }
            let page = UnsafeRawBufferPointer(rebasing: file[reader.position..<(reader.position + stored)])
            position = reader.position + stored
            switch header.int(1) {
            case ParquetCode.PageType.dictionary:
                let bytes = try codec.decompress(page, size: size)
                var dict = ValueBuffer(column.type), at = 0
                let entries = Int(header.structure(7)?.int(1) ?? 0)
                guard (0...bytes.count * 8).contains(entries) else { throw DataError.invalid("Parquet: a dictionary of \(entries) values in \(bytes.count) bytes") }
                try bytes.withUnsafeBytes { try dict.appendPlain($0, &at, count: entries, column) }
                dictionary = dict
            case ParquetCode.PageType.data:
                guard let info = header.structure(5) else { throw DataError.invalid("Parquet: data page without its header") }
                let count = try pageValues(info.int(1), after: levels)
                let bytes = try codec.decompress(page, size: size)
                try bytes.withUnsafeBytes { bytes in
                    var at = 0
                    let valid = try definitionLevels(bytes, &at, count: count, prefixed: true, end: bytes.count)
                    try appendValues(bytes, &at, encoding: info.int(2) ?? 0, count: valid.map(Self.trueCount) ?? count, into: &values, dictionary)
                    validity += valid ?? Array(repeating: true, count: count)
                }
                levels += count
            case ParquetCode.PageType.dataV2:
                guard let info = header.structure(8) else { throw DataError.invalid("Parquet: data page v2 without its header") }
                let count = try pageValues(info.int(1), after: levels)
                let definitionBytes = Int(info.int(5) ?? 0), repetitionBytes = Int(info.int(6) ?? 0)
                let levelBytes = repetitionBytes + definitionBytes
                guard definitionBytes >= 0, repetitionBytes >= 0, levelBytes <= stored else { throw DataError.invalid("Parquet: page v2 level lengths") }
                var at = repetitionBytes
                let valid = try definitionLevels(page, &at, count: count, prefixed: false, end: levelBytes)
                let body = UnsafeRawBufferPointer(rebasing: page[levelBytes...])
                let compressed: Bool = if case .bool(false)? = info[7] { false } else { true }
                let bytes = compressed ? try codec.decompress(body, size: size - levelBytes) : Array(body)
                try bytes.withUnsafeBytes { bytes in
                    var at = 0
                    try appendValues(bytes, &at, encoding: info.int(4) ?? 0, count: valid.map(Self.trueCount) ?? count, into: &values, dictionary)
                }
                validity += valid ?? Array(repeating: true, count: count)
                levels += count
            default:
                continue
            }
        }
        guard levels == rows else { throw DataError.invalid("Parquet: \(levels) values for \(rows) rows") }
        return values.column(validity: column.optional ? validity : nil)
    }

    /// A data page's value count, within what its chunk has left.
    private func pageValues(_ count: Int64?, after levels: Int) throws -> Int {
        let count = Int(count ?? 0)
        guard count >= 0, count <= chunk.valueCount - levels else { throw DataError.invalid("Parquet: a page of \(count) values past its chunk's \(chunk.valueCount)") }
        return count
    }

    private static func trueCount(_ flags: [Bool]) -> Int { flags.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Definition levels (nil for a required column): v1 pages prefix them with their length.
    private func definitionLevels(_ bytes: UnsafeRawBufferPointer, _ at: inout Int, count: Int, prefixed: Bool, end: Int) throws -> [Bool]? {
        guard column.optional else { return nil }
        var stop = end
        if prefixed {
            guard at + 4 <= bytes.count else { throw DataError.invalid("Parquet: page ends before its levels") }
            let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            at += 4
            guard length <= bytes.count - at else { throw DataError.invalid("Parquet: levels past the page") }
            stop = at + length
        }
        let levels = try RLEHybrid.decode(bytes, &at, end: stop, width: 1, count: count)
        at = stop
        return levels.map { $0 == 1 }
    }

    private func appendValues(_ bytes: UnsafeRawBufferPointer, _ at: inout Int, encoding: Int64, count: Int, into values: inout ValueBuffer, _ dictionary: ValueBuffer?) throws {
        switch encoding {
        case ParquetCode.Encoding.plain:
            try values.appendPlain(bytes, &at, count: count, column)
        case ParquetCode.Encoding.plainDictionary, ParquetCode.Encoding.rleDictionary:
            guard let dictionary else { throw DataError.invalid("Parquet: dictionary-encoded page without a dictionary") }
            guard count > 0 else { return }
            guard at < bytes.count else { throw DataError.invalid("Parquet: page ends before its indices") }
            let width = Int(bytes[at])
            at += 1
            try values.appendIndexed(dictionary, RLEHybrid.decode(bytes, &at, end: bytes.count, width: width, count: count))
        case ParquetCode.Encoding.rle where column.type == .boolean:
            guard at + 4 <= bytes.count else { throw DataError.invalid("Parquet: page ends before its Booleans") }
            at += 4
            let bits = try RLEHybrid.decode(bytes, &at, end: bytes.count, width: 1, count: count)
            try values.append(bools: bits.map { $0 == 1 })
        default:
            let names: [Int64: String] = [5: "DELTA_BINARY_PACKED", 6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 9: "BYTE_STREAM_SPLIT"]
            throw DataError.invalid("Parquet encoding \(names[encoding] ?? "#\(encoding)") is not supported (PLAIN and dictionary are)")
        }
    }
}
