import SwiftRay

/// A block's bytes: `SRB2`, rows, columns, then per column its name, type and validity, then its
/// values starting 8-byte aligned (zero padding before them), numbers as their memory
/// (little-endian machines). What a task returns and a store object holds: one copy in, and none
/// out when read from the shared-memory store (the columns alias the mapping, see ``ColumnBuffer``).
extension Block: MappedBytesRepresentable, Codable {
    private static let magic: [UInt8] = Array("SRB2".utf8)

    public var rawByteCount: Int {
        zip(names, columns).reduce(20) { total, pair in
            let (name, column) = pair
            let values: Int = switch column.storage {
            case .int64(let v): v.count * 8
            case .double(let v): v.count * 8
            case .bool(let v): v.count
            case .string(let s): 8 + s.offsets.count * 8 + s.bytes.count
            case .floatVector(_, let v): 8 + v.count * 4
            }
            return Self.aligned(total + 8 + name.utf8.count + 2 + (column.validity == nil ? 0 : rowCount)) + values
        }
    }

    public func appendRawBytes(to bytes: inout [UInt8]) { bytes.append(contentsOf: packed()) }

    public func withRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try packed().withUnsafeBytes(body)
    }

    public init(rawBytes: UnsafeRawBufferPointer) throws {
        try self.init(packed: rawBytes, owner: nil)
    }

    public init(mappedBytes: UnsafeRawBufferPointer, owner: any AnyObject & Sendable) throws {
        try self.init(packed: mappedBytes, owner: owner)
    }

    /// Reads a packed block; with an `owner`, aligned numbers and strings alias `bytes`.
    private init(packed bytes: UnsafeRawBufferPointer, owner: (any AnyObject & Sendable)?) throws {
        var reader = PackReader(bytes, owner: owner)
        guard try reader.bytes(4).elementsEqual(Self.magic) else { throw DataError.invalid("not a block (bad magic)") }
        let rows = try reader.count()
        let columnCount = try reader.count()
        var names: [String] = [], columns: [Column] = []
        for _ in 0..<columnCount {
            names.append(String(decoding: try reader.bytes(try reader.count()), as: UTF8.self))
            columns.append(try reader.column(rows: rows))
        }
        try self.init(names: names, columns: columns)
        guard rowCount == rows || columnCount == 0 else { throw DataError.invalid("block of \(rows) rows holds \(rowCount)") }
    }

    public init(from decoder: any Decoder) throws {
        let bytes = try decoder.singleValueContainer().decode([UInt8].self)
        self = try bytes.withUnsafeBytes { try Block(rawBytes: $0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(packed())
    }

    /// The block's bytes.
    func packed() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(rawByteCount)
        appendCount(rowCount, &out)
        appendCount(columns.count, &out)
        for (name, column) in zip(names, columns) {
            appendCount(name.utf8.count, &out)
            out.append(contentsOf: name.utf8)
            append(column, &out)
        }
        return out
    }

    static func aligned(_ offset: Int) -> Int { (offset + 7) & ~7 }

    private func append(_ column: Column, _ out: inout [UInt8]) {
        let tag: UInt8 = switch column.type {
        case .int64: 0
        case .double: 1
        case .bool: 2
        case .string: 3
        case .floatVector: 4
        }
        out.append(tag)
        out.append(column.validity == nil ? 0 : 1)
        if let validity = column.validity { out.append(contentsOf: validity.map { $0 ? 1 : 0 }) }
        out.append(contentsOf: repeatElement(0, count: Self.aligned(out.count) - out.count))
        switch column.storage {
        case .int64(let v): v.withUnsafeBytes { out.append(contentsOf: $0) }
        case .double(let v): v.withUnsafeBytes { out.append(contentsOf: $0) }
        case .bool(let v): out.append(contentsOf: v.map { $0 ? 1 : 0 })
        case .string(let s):
            appendCount(s.bytes.count, &out)
            s.offsets.withUnsafeBytes { out.append(contentsOf: $0) }
            s.bytes.withUnsafeBytes { out.append(contentsOf: $0) }
        case .floatVector(let d, let v):
            appendCount(d, &out)
            v.withUnsafeBytes { out.append(contentsOf: $0) }
        }
    }

    private func appendCount(_ value: Int, _ out: inout [UInt8]) {
        withUnsafeBytes(of: UInt64(value).littleEndian) { out.append(contentsOf: $0) }
    }
}

/// Reads a packed block, checking every length against what is left (a corrupt object is an
/// error, never a crash). With an `owner` (the bytes are a mapping it keeps), numbers and strings
/// alias the bytes where they are aligned for their type.
private struct PackReader {
    let base: UnsafeRawBufferPointer
    let owner: (any AnyObject & Sendable)?
    var offset = 0

    init(_ base: UnsafeRawBufferPointer, owner: (any AnyObject & Sendable)?) {
        self.base = base
        self.owner = owner
    }

    mutating func bytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= base.count - offset else { throw DataError.invalid("block cut short at byte \(offset)") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: base[offset..<(offset + count)])
    }

    mutating func count() throws -> Int {
        let value = try bytes(8).loadUnaligned(as: UInt64.self).littleEndian
        guard value <= UInt64(Int32.max) * 64 else { throw DataError.invalid("impossible length \(value) in a block") }
        return Int(value)
    }

    mutating func buffer<T: BitwiseCopyable & Sendable>(_ type: T.Type, _ count: Int) throws -> ColumnBuffer<T> {
        let (total, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !overflow else { throw DataError.invalid("impossible length \(count) in a block") }
        let raw = try bytes(total)
        if let owner, let start = raw.baseAddress, Int(bitPattern: start) % MemoryLayout<T>.alignment == 0 {
            return ColumnBuffer(mapped: start, count: count, owner: owner)
        }
        return ColumnBuffer([T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if total > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw) }
            initialized = count
        })
    }

    mutating func column(rows: Int) throws -> Column {
        let header = try bytes(2)
        let tag = header[0]
        let validity = header[1] == 1 ? try bytes(rows).map { $0 != 0 } : nil
        _ = try bytes(Block.aligned(offset) - offset)
        switch tag {
        case 0: return Column(.int64(try buffer(Int64.self, rows)), validity: validity)
        case 1: return Column(.double(try buffer(Double.self, rows)), validity: validity)
        case 2: return Column(.bool(try bytes(rows).map { $0 != 0 }), validity: validity)
        case 3:
            let byteCount = try count()
            let offsets = try buffer(Int.self, rows + 1)
            let ordered = offsets.withUnsafeBufferPointer { o in o.first == 0 && o.last == byteCount && zip(o, o.dropFirst()).allSatisfy { $0 <= $1 } }
            guard ordered else { throw DataError.invalid("string offsets out of order in a block") }
            return Column(.string(StringStorage(offsets: offsets, bytes: try buffer(UInt8.self, byteCount))), validity: validity)
        case 4:
            let dimension = try count()
            let (total, overflow) = rows.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw DataError.invalid("impossible vector size in a block") }
            return Column(.floatVector(dimension: dimension, values: try buffer(Float.self, total)), validity: validity)
        default: throw DataError.invalid("unknown column type \(tag) in a block")
        }
    }
}
