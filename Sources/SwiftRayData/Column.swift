/// Strings of a column, Arrow's way: every string's UTF-8 end to end in one buffer, and where each
/// starts (`offsets[i]..<offsets[i + 1]`), so a million strings are two allocations, not a million.
public struct StringStorage: Sendable, Equatable {
    /// `count + 1` positions into `bytes`.
    public private(set) var offsets: ColumnBuffer<Int>
    /// The strings' UTF-8, end to end.
    public private(set) var bytes: ColumnBuffer<UInt8>

    public init() {
        offsets = [0]
        bytes = []
    }

    init(offsets: ColumnBuffer<Int>, bytes: ColumnBuffer<UInt8>) {
        self.offsets = offsets
        self.bytes = bytes
    }

    public var count: Int { offsets.count - 1 }

    /// Adds one string.
    public mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in bytes.withArray { $0.append(contentsOf: utf8) } }
        offsets.append(bytes.count)
    }

    /// Adds one string from UTF-8 bytes.
    public mutating func append(utf8: UnsafeRawBufferPointer) {
        bytes.withArray { $0.append(contentsOf: utf8) }
        offsets.append(bytes.count)
    }

    mutating func reserve(strings: Int, bytes byteCount: Int) {
        offsets.reserveCapacity(strings + 1)
        bytes.reserveCapacity(byteCount)
    }

    /// The string at `index`.
    public subscript(index: Int) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[offsets[index]..<offsets[index + 1]]), as: UTF8.self) }
    }

    /// Calls `body` with the UTF-8 of the string at `index`, in place.
    public func withUTF8<R>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[offsets[index]..<offsets[index + 1]])) }
    }

    /// The strings at `indices`, in that order: lengths summed first, then each copied with one
    /// `memcpy` into storage of exactly that size.
    func gather(_ indices: [Int]) -> StringStorage {
        offsets.withUnsafeBufferPointer { from in
            precondition(indices.allSatisfy { $0 >= 0 && $0 < from.count - 1 }, "gather index out of range")
            let ends = [Int](unsafeUninitializedCapacity: indices.count + 1) { out, initialized in
                var end = 0
                out[0] = 0
                for (k, i) in indices.enumerated() {
                    end += from[i + 1] - from[i]
                    out[k + 1] = end
                }
                initialized = indices.count + 1
            }
            let total = ends[indices.count]
            let bytes = self.bytes.withUnsafeBytes { source in
                [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
                    guard let target = out.baseAddress, let base = source.baseAddress else { initialized = 0; return }
                    for (k, i) in indices.enumerated() {
                        (target + ends[k]).initialize(from: base.assumingMemoryBound(to: UInt8.self) + from[i], count: from[i + 1] - from[i])
                    }
                    initialized = total
                }
            }
            return StringStorage(offsets: ColumnBuffer(ends), bytes: ColumnBuffer(bytes))
        }
    }

    /// Strings `range`: their bytes in one copy, positions moved to start at 0.
    func slice(_ range: Range<Int>) -> StringStorage {
        offsets.withUnsafeBufferPointer { from in
            let start = from[range.lowerBound], end = from[range.upperBound]
            let moved = from[range.lowerBound...range.upperBound].map { $0 - start }
            let bytes = self.bytes.withUnsafeBufferPointer { Array(UnsafeBufferPointer(rebasing: $0[start..<end])) }
            return StringStorage(offsets: ColumnBuffer(moved), bytes: ColumnBuffer(bytes))
        }
    }

    /// Whether the strings at `i` and `j` (of `other`) are equal, without making Strings.
    func equals(_ i: Int, _ other: StringStorage, _ j: Int) -> Bool {
        withUTF8(i) { a in other.withUTF8(j) { b in a.elementsEqual(b) } }
    }

    /// Byte-wise order of the strings at `i` and `j` (UTF-8 order is code-point order).
    func less(_ i: Int, _ other: StringStorage, _ j: Int) -> Bool {
        withUTF8(i) { a in other.withUTF8(j) { b in a.lexicographicallyPrecedes(b) } }
    }
}

/// One typed column of a block: values stored contiguously by type, with an optional validity mask
/// (`false` marks a null; no mask means no nulls).
public struct Column: Sendable, Equatable {
    /// The values, by type.
    ///
    /// Numbers and strings read from the shared-memory store alias it (see ``ColumnBuffer``);
    /// the static functions of the same names take arrays.
    public enum Storage: Sendable, Equatable {
        case int64(ColumnBuffer<Int64>)
        case double(ColumnBuffer<Double>)
        case bool([Bool])
        case string(StringStorage)
        /// `count * dimension` floats, row after row.
        case floatVector(dimension: Int, values: ColumnBuffer<Float>)

        /// Integers from an array.
        public static func int64(_ values: [Int64]) -> Storage { .int64(ColumnBuffer(values)) }
        /// Doubles from an array.
        public static func double(_ values: [Double]) -> Storage { .double(ColumnBuffer(values)) }
        /// `count * dimension` floats from an array, row after row.
        public static func floatVector(dimension: Int, values: [Float]) -> Storage { .floatVector(dimension: dimension, values: ColumnBuffer(values)) }
    }

    public private(set) var storage: Storage
    /// `false` where the value is null; nil when none is.
    public private(set) var validity: [Bool]?

    public init(_ storage: Storage, validity: [Bool]? = nil) {
        self.storage = storage
        self.validity = validity.flatMap { $0.contains(false) ? $0 : nil }
    }

    /// A column of integers.
    public static func ints(_ values: [Int64]) -> Column { Column(.int64(values)) }
    /// A column of doubles.
    public static func doubles(_ values: [Double]) -> Column { Column(.double(values)) }
    /// A column of strings.
    public static func strings(_ values: [String]) -> Column {
        var storage = StringStorage()
        for value in values { storage.append(value) }
        return Column(.string(storage))
    }
    /// A column of Booleans.
    public static func bools(_ values: [Bool]) -> Column { Column(.bool(values)) }
    /// A column of equal-sized float vectors.
    public static func vectors(_ values: [[Float]], dimension: Int) -> Column {
        Column(.floatVector(dimension: dimension, values: values.flatMap { $0 }))
    }

    public var type: DataType {
        switch storage {
        case .int64: .int64
        case .double: .double
        case .bool: .bool
        case .string: .string
        case .floatVector: .floatVector
        }
    }

    public var count: Int {
        switch storage {
        case .int64(let v): v.count
        case .double(let v): v.count
        case .bool(let v): v.count
        case .string(let s): s.count
        case .floatVector(let d, let v): d == 0 ? 0 : v.count / d
        }
    }

    /// Whether the value at `index` is null.
    @inline(__always) public func isNull(_ index: Int) -> Bool { validity.map { !$0[index] } ?? false }

    /// The value at `index`.
    public subscript(index: Int) -> Value {
        if isNull(index) { return .null }
        switch storage {
        case .int64(let v): return .int(v[index])
        case .double(let v): return .double(v[index])
        case .bool(let v): return .bool(v[index])
        case .string(let s): return .string(s[index])
        case .floatVector(let d, let v): return .vector(Array(v[(index * d)..<((index + 1) * d)]))
        }
    }

    /// The values as doubles (integers converted; nil for other types). Nulls read as NaN.
    public var doubles: [Double]? {
        switch storage {
        case .double(let v): return validity == nil ? v.array : v.indices.map { isNull($0) ? .nan : v[$0] }
        case .int64(let v): return v.indices.map { isNull($0) ? .nan : Double(v[$0]) }
        default: return nil
        }
    }

    /// Approximate bytes held.
    public var byteCount: Int {
        let values: Int = switch storage {
        case .int64(let v): v.count * 8
        case .double(let v): v.count * 8
        case .bool(let v): v.count
        case .string(let s): s.bytes.count + s.offsets.count * 8
        case .floatVector(_, let v): v.count * 4
        }
        return values + (validity?.count ?? 0)
    }
}

extension Column {
    /// Builds a column from values, choosing the narrowest type that holds them all (integers, then
    /// doubles; anything else mixed becomes strings). All nulls is an integer column of nulls.
    public init(values: [Value]) {
        let types = Set(values.compactMap(\.type))
        let validity = values.contains(where: \.isNull) ? values.map { !$0.isNull } : nil
        if types.isEmpty || types == [.int64] {
            self.init(.int64(values.map { $0.int ?? 0 }), validity: validity)
        } else if types.isSubset(of: [.int64, .double]) {
            self.init(.double(values.map { $0.double ?? 0 }), validity: validity)
        } else if types == [.bool] {
            self.init(.bool(values.map { $0.bool ?? false }), validity: validity)
        } else if types == [.floatVector], let dimension = values.compactMap(\.vector).first?.count,
                  values.allSatisfy({ $0.isNull || $0.vector?.count == dimension }) {
            self.init(.floatVector(dimension: dimension, values: values.flatMap { $0.vector ?? [Float](repeating: 0, count: dimension) }), validity: validity)
        } else {
            var storage = StringStorage()
            for value in values { storage.append(value.isNull ? "" : value.description) }
            self.init(.string(storage), validity: validity)
        }
    }

    /// The rows at `indices`, in that order.
    public func gather(_ indices: [Int]) -> Column {
        let mask = validity.map { Self.pick($0, indices) }
        switch storage {
        case .int64(let v): return Column(.int64(Self.pick(v, indices)), validity: mask)
        case .double(let v): return Column(.double(Self.pick(v, indices)), validity: mask)
        case .bool(let v): return Column(.bool(Self.pick(v, indices)), validity: mask)
        case .string(let s): return Column(.string(s.gather(indices)), validity: mask)
        case .floatVector(let d, let v):
            var out: [Float] = []
            out.reserveCapacity(indices.count * d)
            for i in indices { out.append(contentsOf: v[(i * d)..<((i + 1) * d)]) }
            return Column(.floatVector(dimension: d, values: out), validity: mask)
        }
    }

    /// `values` at `indices` (checked once for range, then copied without per-element checks).
    private static func pick<C: Collection>(_ values: C, _ indices: [Int]) -> [C.Element] where C.Index == Int {
        precondition(indices.allSatisfy { $0 >= 0 && $0 < values.count }, "gather index out of range")
        return values.withContiguousStorageIfAvailable { v in
            [C.Element](unsafeUninitializedCapacity: indices.count) { out, initialized in
                for (k, i) in indices.enumerated() { (out.baseAddress! + k).initialize(to: v[i]) }
                initialized = indices.count
            }
        }!
    }

    /// Positions where `mask` is true.
    static func indices(of mask: [Bool]) -> [Int] {
        var indices: [Int] = []
        indices.reserveCapacity(mask.count)
        for (i, keep) in mask.enumerated() where keep { indices.append(i) }
        return indices
    }

    /// The rows where `mask` is true.
    public func filter(_ mask: [Bool]) -> Column { gather(Self.indices(of: mask)) }

    /// Rows `range`; numbers read from the store stay there (the slice aliases the same mapping).
    public func slice(_ range: Range<Int>) -> Column {
        if range == 0..<count { return self }
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "rows \(range) out of range 0..<\(count)")
        let mask = validity.map { Array($0[range]) }
        switch storage {
        case .int64(let v): return Column(.int64(v.slice(range)), validity: mask)
        case .double(let v): return Column(.double(v.slice(range)), validity: mask)
        case .floatVector(let d, let v): return Column(.floatVector(dimension: d, values: v.slice((range.lowerBound * d)..<(range.upperBound * d))), validity: mask)
        case .string(let s): return Column(.string(s.slice(range)), validity: mask)
        case .bool: return gather(Array(range))
        }
    }

    /// The columns end to end; mixed integer and double columns become doubles, other mixes strings.
    public static func concat(_ columns: [Column]) -> Column {
        guard let first = columns.first else { return .ints([]) }
        if columns.count == 1 { return first }
        let types = Set(columns.map(\.type))
        let validity: [Bool]? = columns.contains { $0.validity != nil }
            ? columns.flatMap { c in c.validity ?? [Bool](repeating: true, count: c.count) } : nil
        if types.count == 1 {
            switch first.storage {
            case .int64: return Column(.int64(columns.flatMap(\.int64Values)), validity: validity)
            case .double: return Column(.double(columns.flatMap(\.doubleValues)), validity: validity)
            case .bool: return Column(.bool(columns.flatMap(\.boolValues)), validity: validity)
            case .string:
                var out = StringStorage()
                out.reserve(strings: columns.reduce(0) { $0 + $1.count }, bytes: columns.reduce(0) { $0 + $1.byteCount })
                for column in columns {
                    guard case .string(let s) = column.storage else { continue }
                    for i in 0..<s.count { s.withUTF8(i) { out.append(utf8: UnsafeRawBufferPointer($0)) } }
                }
                return Column(.string(out), validity: validity)
            case .floatVector(let d, _):
                if columns.allSatisfy({ if case .floatVector(d, _) = $0.storage { true } else { false } }) {
                    return Column(.floatVector(dimension: d, values: columns.flatMap(\.floatValues)), validity: validity)
                }
            }
        }
        if types.isSubset(of: [.int64, .double]) { return Column(.double(columns.flatMap { $0.doubles ?? [] }), validity: validity) }
        return Column(values: columns.flatMap { c in (0..<c.count).map { c[$0] } })
    }
}

extension Column {
    var int64Values: ColumnBuffer<Int64> { if case .int64(let v) = storage { return v } else { return [] } }
    var doubleValues: ColumnBuffer<Double> { if case .double(let v) = storage { return v } else { return [] } }
    var boolValues: [Bool] { if case .bool(let v) = storage { return v } else { return [] } }
    var floatValues: ColumnBuffer<Float> { if case .floatVector(_, let v) = storage { return v } else { return [] } }
}
