/// A batch of rows stored by column: the unit a dataset is made of, stored once in the object store
/// and moved between tasks as raw column bytes (`Block+Packing.swift`).
public struct Block: Sendable, Equatable {
    /// Column names, in order.
    public private(set) var names: [String]
    /// Columns, each `rowCount` long.
    public private(set) var columns: [Column]
    /// Rows in the block.
    public let rowCount: Int

    /// A block of `columns`, all the same length.
    /// - Throws: `DataError.invalid` when lengths differ or a name repeats.
    public init(names: [String], columns: [Column]) throws {
        guard names.count == columns.count else { throw DataError.invalid("\(names.count) names for \(columns.count) columns") }
        guard Set(names).count == names.count else { throw DataError.invalid("repeated column names in \(names)") }
        let count = columns.first?.count ?? 0
        if let bad = columns.firstIndex(where: { $0.count != count }) {
            throw DataError.invalid("column \(names[bad]) has \(columns[bad].count) rows, \(names[0]) has \(count)")
        }
        self.names = names
        self.columns = columns
        rowCount = count
    }

    /// A block from name-column pairs: `try Block(["id": .ints([1, 2]), "name": .strings(["a", "b"])])`.
    public init(_ pairs: KeyValuePairs<String, Column>) throws {
        try self.init(names: pairs.map(\.key), columns: pairs.map(\.value))
    }

    /// A block of no columns and no rows.
    public static let empty = Block(unchecked: [], [], rows: 0)

    init(unchecked names: [String], _ columns: [Column], rows: Int) {
        self.names = names
        self.columns = columns
        rowCount = rows
    }

    /// A block of `rows`; the columns are the union of the rows' names (missing values null), each
    /// typed by what it holds (see `Column(values:)`).
    public init(rows: [Row]) {
        var names: [String] = []
        var seen: Set<String> = []
        for row in rows { for name in row.names where seen.insert(name).inserted { names.append(name) } }
        let columns = names.map { name in Column(values: rows.map { $0[name] }) }
        self.init(unchecked: names, columns, rows: rows.count)
    }

    /// The column named `name`.
    public subscript(name: String) -> Column? { names.firstIndex(of: name).map { columns[$0] } }

    /// The column named `name`. - Throws: `DataError.unknownColumn`.
    public func column(_ name: String) throws -> Column {
        guard let column = self[name] else { throw DataError.unknownColumn(name, available: names) }
        return column
    }

    /// Row `index`.
    public func row(_ index: Int) -> Row { Row(names: names, values: columns.map { $0[index] }) }

    /// Every row.
    public var rows: [Row] { (0..<rowCount).map(row) }

    public var schema: Schema { Schema(fields: zip(names, columns).map { ($0, $1.type) }) }

    /// Approximate bytes held.
    public var byteCount: Int { columns.reduce(0) { $0 + $1.byteCount } }

    /// The block with column `name` set to `column` (replaced in place or added at the end).
    public func setting(_ name: String, _ column: Column) throws -> Block {
        guard column.count == rowCount || names.isEmpty else {
            throw DataError.invalid("column \(name) has \(column.count) rows, the block \(rowCount)")
        }
        var names = self.names, columns = self.columns
        if let index = names.firstIndex(of: name) { columns[index] = column } else { names.append(name); columns.append(column) }
        return Block(unchecked: names, columns, rows: column.count)
    }

    /// Only `selected`, in that order. - Throws: `DataError.unknownColumn`.
    public func selecting(_ selected: [String]) throws -> Block {
        Block(unchecked: selected, try selected.map(column), rows: rowCount)
    }

    /// Without `dropped` (names not present are ignored, as Ray's `drop_columns` is not).
    /// - Throws: `DataError.unknownColumn` for a name the block does not have.
    public func dropping(_ dropped: [String]) throws -> Block {
        for name in dropped where self[name] == nil { throw DataError.unknownColumn(name, available: names) }
        let kept = names.filter { !dropped.contains($0) }
        return try selecting(kept)
    }

    /// With columns renamed (`old: new`). - Throws: `DataError.unknownColumn`.
    public func renaming(_ renames: [String: String]) throws -> Block {
        for old in renames.keys where self[old] == nil { throw DataError.unknownColumn(old, available: names) }
        return try Block(names: names.map { renames[$0] ?? $0 }, columns: columns)
    }

    /// The rows where `mask` is true.
    public func filter(_ mask: [Bool]) -> Block {
        let kept = Column.indices(of: mask)
        if kept.count == rowCount { return self }
        return gather(kept)
    }

    /// The rows at `indices`, in that order.
    public func gather(_ indices: [Int]) -> Block {
        Block(unchecked: names, columns.map { $0.gather(indices) }, rows: indices.count)
    }

    /// Rows `range`.
    public func slice(_ range: Range<Int>) -> Block {
        Block(unchecked: names, columns.map { $0.slice(range) }, rows: range.count)
    }

    /// Blocks end to end. Columns are matched by name (a column missing from a block is null
    /// there); numeric columns of different types become doubles.
    public static func concat(_ blocks: [Block]) -> Block {
        let blocks = blocks.filter { $0.rowCount > 0 || !$0.names.isEmpty }
        guard let first = blocks.first else { return .empty }
        if blocks.count == 1 { return first }
        var names = first.names
        for block in blocks.dropFirst() { for name in block.names where !names.contains(name) { names.append(name) } }
        let columns = names.map { name in
            Column.concat(blocks.map { block in block[name] ?? Column(values: [Value](repeating: .null, count: block.rowCount)) })
        }
        return Block(unchecked: names, columns, rows: blocks.reduce(0) { $0 + $1.rowCount })
    }

    /// Splits into blocks of at most `size` rows.
    public func batches(of size: Int) -> [Block] {
        guard size > 0, rowCount > size else { return [self] }
        return stride(from: 0, to: rowCount, by: size).map { slice($0..<min($0 + size, rowCount)) }
    }
}
