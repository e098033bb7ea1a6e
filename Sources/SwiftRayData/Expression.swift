/// A column expression, evaluated over whole columns at once inside the tasks (Polars' and Ray
/// Data's `col("a") + col("b")`): it is a value, so it travels to the workers, where a closure
/// could not.
///
/// ```swift
/// ds.withColumn("total", col("price") * col("quantity")).filter(col("total") > 100 && col("region") == "eu")
/// ```
public indirect enum Expression: Codable, Sendable, CustomStringConvertible {
    case column(String)
    case literal(Value)
    case binary(Operator, Expression, Expression)
    case not(Expression)
    case isNull(Expression)

    /// Binary operators.
    public enum Operator: String, Codable, Sendable {
        case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case and = "&&", or = "||"
    }

    public var description: String {
        switch self {
        case .column(let name): "col(\(name))"
        case .literal(let value): if case .string(let s) = value { "\"\(s)\"" } else { value.description }
        case .binary(let op, let a, let b): "(\(a) \(op.rawValue) \(b))"
        case .not(let e): "!\(e)"
        case .isNull(let e): "\(e).isNull"
        }
    }

    /// Whether the value is null.
    public var isNull: Expression { .isNull(self) }

    /// The columns it reads.
    public var columns: Set<String> {
        switch self {
        case .column(let name): [name]
        case .literal: []
        case .binary(_, let a, let b): a.columns.union(b.columns)
        case .not(let e), .isNull(let e): e.columns
        }
    }
}

/// The column `name` in an expression.
public func col(_ name: String) -> Expression { .column(name) }
/// A constant in an expression.
public func lit(_ value: Value) -> Expression { .literal(value) }

extension Expression: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral {
    public init(integerLiteral value: Int64) { self = .literal(.int(value)) }
    public init(floatLiteral value: Double) { self = .literal(.double(value)) }
    public init(stringLiteral value: String) { self = .literal(.string(value)) }
    public init(booleanLiteral value: Bool) { self = .literal(.bool(value)) }

    public static func + (a: Expression, b: Expression) -> Expression { .binary(.add, a, b) }
    public static func - (a: Expression, b: Expression) -> Expression { .binary(.subtract, a, b) }
    public static func * (a: Expression, b: Expression) -> Expression { .binary(.multiply, a, b) }
    public static func / (a: Expression, b: Expression) -> Expression { .binary(.divide, a, b) }
    public static func % (a: Expression, b: Expression) -> Expression { .binary(.remainder, a, b) }
    public static func == (a: Expression, b: Expression) -> Expression { .binary(.equal, a, b) }
    public static func != (a: Expression, b: Expression) -> Expression { .binary(.notEqual, a, b) }
    public static func < (a: Expression, b: Expression) -> Expression { .binary(.less, a, b) }
    public static func <= (a: Expression, b: Expression) -> Expression { .binary(.lessOrEqual, a, b) }
    public static func > (a: Expression, b: Expression) -> Expression { .binary(.greater, a, b) }
    public static func >= (a: Expression, b: Expression) -> Expression { .binary(.greaterOrEqual, a, b) }
    public static func && (a: Expression, b: Expression) -> Expression { .binary(.and, a, b) }
    public static func || (a: Expression, b: Expression) -> Expression { .binary(.or, a, b) }
    public static prefix func ! (e: Expression) -> Expression { .not(e) }
}

extension Expression {
    /// The expression's value for every row of `block`.
    /// - Throws: `DataError.unknownColumn`, or `.typeMismatch` (arithmetic on strings, `&&` on numbers).
    public func evaluate(on block: Block) throws -> Column {
        switch self {
        case .column(let name): return try block.column(name)
        case .literal(let value):
            let n = block.rowCount
            switch value {
            case .int(let v): return .ints([Int64](repeating: v, count: n))
            case .double(let v): return .doubles([Double](repeating: v, count: n))
            case .bool(let v): return .bools([Bool](repeating: v, count: n))
            default: return Column(values: [Value](repeating: value, count: n))
            }
        case .not(let e):
            let column = try e.evaluate(on: block)
            guard case .bool(let v) = column.storage else { throw DataError.typeMismatch("! of a \(column.type) column in \(self)") }
            return Column(.bool(v.map { !$0 }), validity: column.validity)
        case .isNull(let e):
            let column = try e.evaluate(on: block)
            return .bools((0..<column.count).map(column.isNull))
        case .binary(let op, let a, let b):
            return try Self.apply(op, try a.evaluate(on: block), try b.evaluate(on: block), in: self)
        }
    }

    /// A filter's mask: true where the expression is true (null counts as false).
    func mask(on block: Block) throws -> [Bool] {
        let column = try evaluate(on: block)
        guard case .bool(let v) = column.storage else { throw DataError.typeMismatch("a filter must be true or false; \(self) is \(column.type)") }
        guard let validity = column.validity else { return v }
        return zip(v, validity).map { $0 && $1 }
    }

    private static func apply(_ op: Operator, _ a: Column, _ b: Column, in expression: Expression) throws -> Column {
        let validity = mergedValidity(a, b)
        switch (a.storage, b.storage) {
        case (.int64(let x), .int64(let y)) where op != .divide:
            return Column(try x.withUnsafeBufferPointer { x in try y.withUnsafeBufferPointer { try integers(op, x, $0, expression) } }, validity: validity)
        case (.double(let x), .double(let y)):  // values under nulls do not matter: the result is null there
            return Column(try x.withUnsafeBufferPointer { x in try y.withUnsafeBufferPointer { try doubles(op, x, $0, expression) } }, validity: validity)
        case (.bool(let x), .bool(let y)):
            switch op {
            case .and: return Column(.bool(zip(x, y).map { $0 && $1 }), validity: validity)
            case .or: return Column(.bool(zip(x, y).map { $0 || $1 }), validity: validity)
            case .equal: return Column(.bool(zip(x, y).map { $0 == $1 }), validity: validity)
            case .notEqual: return Column(.bool(zip(x, y).map { $0 != $1 }), validity: validity)
            default: throw DataError.typeMismatch("\(op.rawValue) on Booleans in \(expression)")
            }
        case (.string(let x), .string(let y)):
            let n = x.count
            switch op {
            case .equal: return Column(.bool((0..<n).map { x.equals($0, y, $0) }), validity: validity)
            case .notEqual: return Column(.bool((0..<n).map { !x.equals($0, y, $0) }), validity: validity)
            case .less: return Column(.bool((0..<n).map { x.less($0, y, $0) }), validity: validity)
            case .greater: return Column(.bool((0..<n).map { y.less($0, x, $0) }), validity: validity)
            case .lessOrEqual: return Column(.bool((0..<n).map { !y.less($0, x, $0) }), validity: validity)
            case .greaterOrEqual: return Column(.bool((0..<n).map { !x.less($0, y, $0) }), validity: validity)
            case .add:
                var out = StringStorage()
                for i in 0..<n { out.append(x[i] + y[i]) }
                return Column(.string(out), validity: validity)
            default: throw DataError.typeMismatch("\(op.rawValue) on strings in \(expression)")
            }
        default:
            guard let x = a.doubles, let y = b.doubles else {
                throw DataError.typeMismatch("\(op.rawValue) on \(a.type) and \(b.type) in \(expression)")
            }
            return Column(try x.withUnsafeBufferPointer { x in try y.withUnsafeBufferPointer { try doubles(op, x, $0, expression) } }, validity: validity)
        }
    }

    private static func integers(_ op: Operator, _ x: UnsafeBufferPointer<Int64>, _ y: UnsafeBufferPointer<Int64>, _ expression: Expression) throws -> Column.Storage {
        switch op {
        case .add: return .int64(zip(x, y).map { $0 &+ $1 })
        case .subtract: return .int64(zip(x, y).map { $0 &- $1 })
        case .multiply: return .int64(zip(x, y).map { $0 &* $1 })
        case .remainder: return .int64(zip(x, y).map { $1 == 0 ? 0 : $0 % $1 })
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: return comparison(op, x, y)
        case .divide, .and, .or: throw DataError.typeMismatch("\(op.rawValue) on integers in \(expression)")
        }
    }

    private static func doubles(_ op: Operator, _ x: UnsafeBufferPointer<Double>, _ y: UnsafeBufferPointer<Double>, _ expression: Expression) throws -> Column.Storage {
        switch op {
        case .add: return .double(zip(x, y).map { $0 + $1 })
        case .subtract: return .double(zip(x, y).map { $0 - $1 })
        case .multiply: return .double(zip(x, y).map { $0 * $1 })
        case .divide: return .double(zip(x, y).map { $0 / $1 })
        case .remainder: return .double(zip(x, y).map { $0.truncatingRemainder(dividingBy: $1) })
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: return comparison(op, x, y)
        case .and, .or: throw DataError.typeMismatch("\(op.rawValue) on numbers in \(expression)")
        }
    }

    /// A loop per operator (not one loop calling a chosen closure) so each compiles to a tight loop.
    private static func comparison<T: Comparable>(_ op: Operator, _ x: UnsafeBufferPointer<T>, _ y: UnsafeBufferPointer<T>) -> Column.Storage {
        switch op {
        case .equal: .bool(zip(x, y).map { $0 == $1 })
        case .notEqual: .bool(zip(x, y).map { $0 != $1 })
        case .less: .bool(zip(x, y).map { $0 < $1 })
        case .lessOrEqual: .bool(zip(x, y).map { $0 <= $1 })
        case .greater: .bool(zip(x, y).map { $0 > $1 })
        default: .bool(zip(x, y).map { $0 >= $1 })
        }
    }

    private static func mergedValidity(_ a: Column, _ b: Column) -> [Bool]? {
        switch (a.validity, b.validity) {
        case (nil, nil): nil
        case (let x?, nil): x
        case (nil, let y?): y
        case (let x?, let y?): zip(x, y).map { $0 && $1 }
        }
    }
}
