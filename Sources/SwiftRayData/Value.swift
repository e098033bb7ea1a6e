/// The type of a column.
public enum DataType: String, Codable, Sendable, CustomStringConvertible {
    case int64, double, string, bool
    /// Fixed-size vectors of `Float` (embeddings); the size is the column's.
    case floatVector

    public var description: String { rawValue }
}

/// One cell of a dataset: a typed value or null.
public enum Value: Hashable, Codable, Sendable, CustomStringConvertible {
    case null
    case int(Int64)
    case double(Double)
    case string(String)
    case bool(Bool)
    case vector([Float])

    /// The integer, if this is one.
    public var int: Int64? { if case .int(let v) = self { v } else { nil } }
    /// The number as a `Double` (integers converted), if this is one.
    public var double: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }
    /// The string, if this is one.
    public var string: String? { if case .string(let v) = self { v } else { nil } }
    /// The Boolean, if this is one.
    public var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    /// The vector, if this is one.
    public var vector: [Float]? { if case .vector(let v) = self { v } else { nil } }
    /// Whether this is null.
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// The column type holding this value (nil for null).
    public var type: DataType? {
        switch self {
        case .null: nil
        case .int: .int64
        case .double: .double
        case .string: .string
        case .bool: .bool
        case .vector: .floatVector
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .int(let v): "\(v)"
        case .double(let v): "\(v)"
        case .string(let v): v
        case .bool(let v): "\(v)"
        case .vector(let v): "\(v)"
        }
    }
}

extension Value: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}

extension Value: Comparable {
    /// Nulls first, then numbers (integers and doubles compared as numbers), Booleans, strings, vectors.
    public static func < (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.string(let x), .string(let y)): return x < y
        case (.bool(let x), .bool(let y)): return !x && y
        default:
            if let x = a.double, let y = b.double { return x < y }
            if case .vector(let x) = a, case .vector(let y) = b { return x.lexicographicallyPrecedes(y) }
            return a.rank < b.rank
        }
    }

    private var rank: Int {
        switch self {
        case .null: 0
        case .int, .double: 1
        case .bool: 2
        case .string: 3
        case .vector: 4
        }
    }
}

/// A dataset's column names and types.
public struct Schema: Sendable, Equatable, CustomStringConvertible {
    /// The columns, in order.
    public var fields: [(name: String, type: DataType)]

    public var names: [String] { fields.map(\.name) }

    public static func == (a: Schema, b: Schema) -> Bool {
        a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.type) == b.fields.map(\.type)
    }

    public var description: String {
        let width = fields.map(\.name.count).max() ?? 0
        return (["Column" + String(repeating: " ", count: max(0, width - 6)) + "  Type", String(repeating: "-", count: max(6, width)) + "  ----"]
            + fields.map { $0.name + String(repeating: " ", count: max(0, width - $0.name.count)) + "  " + $0.type.rawValue })
            .joined(separator: "\n")
    }
}
