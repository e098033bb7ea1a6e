import Foundation

/// A per-row transform run in the dataset's tasks (Ray Data's `map`). It is a `Codable` value, so
/// its stored properties travel with it (the captures a closure would have had), and the workers
/// find its type by name in their copy of the binary.
///
/// ```swift
/// struct Scale: RowMapper { var factor: Double
///     func callAsFunction(_ row: Row) throws -> Row { var row = row; row["x"] = .double(row["x"].double! * factor); return row } }
/// ds.map(Scale(factor: 2))
/// ```
public protocol RowMapper: Codable, Sendable {
    func callAsFunction(_ row: Row) throws -> Row
}

/// A transform of each row into any number of rows (Ray Data's `flat_map`).
public protocol FlatMapper: Codable, Sendable {
    func callAsFunction(_ row: Row) throws -> [Row]
}

/// A row filter run in the dataset's tasks (Ray Data's `filter` with a function).
public protocol RowPredicate: Codable, Sendable {
    func callAsFunction(_ row: Row) throws -> Bool
}

/// A transform of whole batches (Ray Data's `map_batches` with a function): columns in, columns out,
/// the fastest way to compute over a dataset.
public protocol BatchMapper: Codable, Sendable {
    func callAsFunction(_ batch: Block) throws -> Block
}

/// A transform of batches as typed records (the batch format for code that wants structs, not
/// columns): each row of a batch decoded as `Input` (properties matched to columns by name), the
/// `Output`s encoded back to rows (their keys the columns).
///
/// ```swift
/// struct Sale: Codable { var price: Double; var quantity: Int }
/// struct Total: Codable { var total: Double }
/// struct Totals: RecordBatchMapper {
///     func callAsFunction(_ batch: [Sale]) throws -> [Total] { batch.map { Total(total: $0.price * Double($0.quantity)) } }
/// }
/// ds.mapBatches(Totals(), batchSize: 1024)
/// ```
public protocol RecordBatchMapper: Codable, Sendable {
    associatedtype Input: Decodable
    associatedtype Output: Encodable
    func callAsFunction(_ batch: [Input]) throws -> [Output]
}

extension RecordBatchMapper {
    /// The batch through the records.
    func mapBlock(_ block: Block) throws -> Block {
        let inputs = try block.rows.map { try $0.decode(as: Input.self) }
        return Block(rows: try self(inputs).map { try Row(encoding: $0) })
    }
}

/// A transform value, with its type's name so that a worker can rebuild it.
struct ShippedFunction: Codable, Sendable {
    var typeName: String
    var state: [UInt8]

    init<F: Encodable>(_ function: F) throws {
        typeName = _mangledTypeName(F.self) ?? String(reflecting: F.self)
        state = Array(try JSONEncoder().encode(function))
    }

    /// A batch transform: columns (`BatchMapper`) or typed records (`RecordBatchMapper`).
    func batchFunction() throws -> (Block) throws -> Block {
        if let mapper = try? rebuild(as: (any BatchMapper).self) { return { try mapper($0) } }
        let records = try rebuild(as: (any RecordBatchMapper).self)
        return { try records.mapBlock($0) }
    }

    func rebuild<P>(as protocolType: P.Type) throws -> P {
        guard let type = _typeByName(typeName), let decodable = type as? any Decodable.Type else {
            throw DataError.unknownFunction(typeName)
        }
        guard let value = try JSONDecoder().decode(decodable, from: Data(state)) as? P else { throw DataError.unknownFunction(typeName) }
        return value
    }
}

/// One step of a fused chain, run by the task that reads or receives a block.
enum StageOperation: Codable, Sendable {
    case map(ShippedFunction)
    case flatMap(ShippedFunction)
    case filterRows(ShippedFunction)
    case mapBatches(ShippedFunction, batchSize: Int?, resources: TaskResources? = nil)
    case filter(Expression)
    case withColumn(String, Expression)
    case select([String])
    case drop([String])
    case rename([String: String])
    case limit(Int)
    case partialAggregate(keys: [String], [Aggregate])

    var name: String {
        switch self {
        case .map: "Map"
        case .flatMap: "FlatMap"
        case .filterRows, .filter: "Filter"
        case .mapBatches: "MapBatches"
        case .withColumn: "WithColumn"
        case .select: "SelectColumns"
        case .drop: "DropColumns"
        case .rename: "RenameColumns"
        case .limit: "Limit"
        case .partialAggregate: "Aggregate(partial)"
        }
    }

    /// The columns a chain reads from its input, when it can tell (nil: all of them). Walks the
    /// chain backwards from what its end needs (`end`; nil when the block leaves whole).
    static func inputColumns(of chain: [StageOperation], end: Set<String>?) -> Set<String>? {
        var needed = end
        for operation in chain.reversed() {
            switch operation {
            case .partialAggregate(let keys, let aggregates): needed = Set(keys + aggregates.compactMap(\.column))
            case .select(let names): needed = Set(names)
            case .filter(let expression): needed = needed?.union(expression.columns)
            case .withColumn(let name, let expression): needed = needed.map { $0.subtracting([name]).union(expression.columns) }
            case .drop(let names): needed = needed?.union(names)
            case .rename(let renames):
                let back = Dictionary(renames.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
                needed = needed.map { Set($0.map { back[$0] ?? $0 }) }
            case .limit: break
            case .map, .flatMap, .filterRows, .mapBatches: needed = nil
            }
        }
        return needed
    }

    /// What the operation asks its task to hold, if anything.
    var resources: TaskResources? {
        if case .mapBatches(_, _, let resources) = self { return resources }
        return nil
    }

    func apply(_ block: Block) throws -> Block {
        switch self {
        case .map(let function):
            let mapper = try function.rebuild(as: (any RowMapper).self)
            return Block(rows: try block.rows.map { try mapper($0) })
        case .flatMap(let function):
            let mapper = try function.rebuild(as: (any FlatMapper).self)
            return Block(rows: try block.rows.flatMap { try mapper($0) })
        case .filterRows(let function):
            let predicate = try function.rebuild(as: (any RowPredicate).self)
            return block.filter(try (0..<block.rowCount).map { try predicate(block.row($0)) })
        case .mapBatches(let function, let size, _):
            let run = try function.batchFunction()
            return Block.concat(try block.batches(of: size ?? block.rowCount).map(run))
        case .filter(let expression): return block.filter(try expression.mask(on: block))
        case .withColumn(let name, let expression): return try block.setting(name, try expression.evaluate(on: block))
        case .select(let names): return try block.selecting(names)
        case .drop(let names): return try block.dropping(names)
        case .rename(let renames): return try block.renaming(renames)
        case .limit(let count): return block.rowCount > count ? block.slice(0..<count) : block
        case .partialAggregate(let keys, let aggregates): return try GroupedAggregation(keys: keys, aggregates: aggregates).partial(block)
        }
    }
}
