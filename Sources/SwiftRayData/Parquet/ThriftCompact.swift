/// Thrift's compact protocol, the encoding of Parquet's footer and page headers, as a small value
/// tree: structs decode to field-id maps (unknown fields kept, so nothing needs a generated schema)
/// and encode from them in field order.
enum Thrift {
    /// A decoded value.
    indirect enum Value: Equatable {
        case bool(Bool)
        /// i8, i16 and i32 fields (Parquet's readers skip a field whose type code differs from the
        /// schema's, so the width is kept).
        case int(Int64)
        case long(Int64)
        case double(Double)
        case binary([UInt8])
        case list(elementType: UInt8, [Value])
        case structure(Struct)
    }

    /// A struct: its fields by id.
    struct Struct: Equatable {
        var fields: [Int16: Value] = [:]

        subscript(id: Int16) -> Value? {
            get { fields[id] }
            set { fields[id] = newValue }
        }

        func int(_ id: Int16) -> Int64? {
            switch fields[id] {
            case .int(let v)?, .long(let v)?: v
            default: nil
            }
        }
        func string(_ id: Int16) -> String? { if case .binary(let b)? = fields[id] { String(decoding: b, as: UTF8.self) } else { nil } }
        func structure(_ id: Int16) -> Struct? { if case .structure(let s)? = fields[id] { s } else { nil } }
        func list(_ id: Int16) -> [Value] { if case .list(_, let l)? = fields[id] { l } else { [] } }
        func structs(_ id: Int16) -> [Struct] { list(id).compactMap { if case .structure(let s) = $0 { s } else { nil } } }
        func ints(_ id: Int16) -> [Int64] {
            list(id).compactMap {
                switch $0 {
                case .int(let v), .long(let v): v
                default: nil
                }
            }
        }
    }

    /// Compact protocol type codes.
    enum TypeCode {
        static let stop: UInt8 = 0, boolTrue: UInt8 = 1, boolFalse: UInt8 = 2, byte: UInt8 = 3, i16: UInt8 = 4
        static let i32: UInt8 = 5, i64: UInt8 = 6, double: UInt8 = 7, binary: UInt8 = 8, list: UInt8 = 9
        static let set: UInt8 = 10, map: UInt8 = 11, structure: UInt8 = 12
    }

    /// Reads compact-protocol values from bytes; every overrun or unknown type is a `DataError`.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        /// Nesting guard: a hostile footer cannot recurse the stack away.
        private var depth = 0

        init(_ bytes: UnsafeRawBufferPointer, at position: Int = 0) {
            self.bytes = bytes
            self.position = position
        }

        mutating func byte() throws -> UInt8 {
            guard position < bytes.count else { throw DataError.invalid("Parquet: Thrift data ends early") }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func varint() throws -> UInt64 {
            var result: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                let b = try byte()
                result |= UInt64(b & 0x7f) << UInt64(shift)
                if b & 0x80 == 0 { return result }
            }
            throw DataError.invalid("Parquet: Thrift varint too long")
        }

        mutating func zigzag() throws -> Int64 {
            let v = try varint()
            return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
        }

        mutating func readStruct() throws -> Struct {
            depth += 1
            defer { depth -= 1 }
            guard depth < 64 else { throw DataError.invalid("Parquet: Thrift structs nested too deep") }
            var result = Struct()
            var lastID: Int16 = 0
            while true {
                let header = try byte()
                let type = header & 0x0f
                if type == TypeCode.stop { return result }
                let delta = Int16(header >> 4)
                let id = delta == 0 ? Int16(truncatingIfNeeded: try zigzag()) : lastID &+ delta
                lastID = id
                result[id] = try value(type)
            }
        }

        mutating func value(_ type: UInt8) throws -> Value {
            switch type {
            case TypeCode.boolTrue: return .bool(true)
            case TypeCode.boolFalse: return .bool(false)
            case TypeCode.byte: return .int(Int64(Int8(bitPattern: try byte())))
            case TypeCode.i16, TypeCode.i32: return .int(try zigzag())
            case TypeCode.i64: return .long(try zigzag())
            case TypeCode.double:
                guard position + 8 <= bytes.count else { throw DataError.invalid("Parquet: Thrift data ends early") }
                defer { position += 8 }
                return .double(Double(bitPattern: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self).littleEndian))
            case TypeCode.binary:
                let count = Int(clamping: try varint())
                guard count <= bytes.count - position else { throw DataError.invalid("Parquet: Thrift string runs past the data") }
                defer { position += count }
                return .binary(Array(bytes[position..<(position + count)]))
            case TypeCode.list, TypeCode.set:
                let header = try byte()
                let elementType = header & 0x0f
                let count = header >> 4 == 15 ? Int(clamping: try varint()) : Int(header >> 4)
                guard count <= bytes.count - position else { throw DataError.invalid("Parquet: Thrift list longer than the data") }
                var items: [Value] = []
                items.reserveCapacity(count)
                for _ in 0..<count {
                    // Booleans in lists are one byte each (1 true).
                    if elementType == TypeCode.boolTrue || elementType == TypeCode.boolFalse {
                        items.append(.bool(try byte() == 1))
                    } else {
                        items.append(try value(elementType))
                    }
                }
                return .list(elementType: elementType, items)
            case TypeCode.map:
                let count = Int(clamping: try varint())
                guard count <= bytes.count - position else { throw DataError.invalid("Parquet: Thrift map longer than the data") }
                if count > 0 {
                    let types = try byte()
                    for _ in 0..<count { _ = try value(types >> 4); _ = try value(types & 0x0f) }
                }
                return .list(elementType: TypeCode.map, [])
            case TypeCode.structure: return .structure(try readStruct())
            default: throw DataError.invalid("Parquet: unknown Thrift type \(type)")
            }
        }
    }

    /// Writes compact-protocol values.
    struct Writer {
        var bytes: [UInt8] = []

        mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
            bytes.append(UInt8(v))
        }

        mutating func zigzag(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

        mutating func write(_ s: Struct) {
            var lastID: Int16 = 0
            for id in s.fields.keys.sorted() {
                let value = s.fields[id]!
                let type = Self.type(of: value)
                if id > lastID, id - lastID <= 15 {
                    bytes.append(UInt8(id - lastID) << 4 | type)
                } else {
                    bytes.append(type)
                    zigzag(Int64(id))
                }
                lastID = id
                if case .bool = value { continue }
                write(value)
            }
            bytes.append(TypeCode.stop)
        }

        private mutating func write(_ value: Value) {
            switch value {
            case .bool(let b): bytes.append(b ? 1 : 2)
            case .int(let v), .long(let v): zigzag(v)
            case .double(let d): withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            case .binary(let b): varint(UInt64(b.count)); bytes.append(contentsOf: b)
            case .list(let elementType, let items):
                if items.count < 15 { bytes.append(UInt8(items.count) << 4 | elementType) } else {
                    bytes.append(0xf0 | elementType)
                    varint(UInt64(items.count))
                }
                for item in items {
                    if case .bool(let b) = item { bytes.append(b ? 1 : 0) } else { write(item) }
                }
            case .structure(let s): write(s)
            }
        }

        /// The compact type code of `value`.
        static func type(of value: Value) -> UInt8 {
            switch value {
            case .bool(let b): b ? TypeCode.boolTrue : TypeCode.boolFalse
            case .int: TypeCode.i32
            case .long: TypeCode.i64
            case .double: TypeCode.double
            case .binary: TypeCode.binary
            case .list: TypeCode.list
            case .structure: TypeCode.structure
            }
        }
    }
}
