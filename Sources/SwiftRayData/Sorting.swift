/// A column to sort by, and its direction.
public struct SortKey: Codable, Sendable, Equatable {
    public var column: String
    public var descending: Bool

    public init(_ column: String, descending: Bool = false) {
        self.column = column
        self.descending = descending
    }

    /// The row order of `block` sorted by `keys` (stable; nulls first ascending, last descending).
    static func order(_ block: Block, by keys: [SortKey]) -> [Int] {
        let columns = keys.compactMap { key in block[key.column].map { ($0, key.descending) } }
        var indices = Array(0..<block.rowCount)
        if columns.count == 1, case .int64(let v) = columns[0].0.storage, columns[0].0.validity == nil {
            let descending = columns[0].1
            indices.sort { a, b in v[a] != v[b] ? (v[a] < v[b]) != descending : a < b }
            return indices
        }
        if columns.count == 1, case .double(let v) = columns[0].0.storage, columns[0].0.validity == nil {
            let descending = columns[0].1
            indices.sort { a, b in v[a] != v[b] ? (v[a] < v[b]) != descending : a < b }
            return indices
        }
        indices.sort { a, b in
            for (column, descending) in columns {
                let x = column[a], y = column[b]
                if x != y { return (x < y) != descending }
            }
            return a < b
        }
        return indices
    }

    /// Which of the ranges split by `boundaries` (sorted key rows) each row of `block` falls in.
    static func partitions(_ block: Block, by keys: [SortKey], boundaries: [[Value]]) -> [Int] {
        let columns = keys.compactMap { key in block[key.column] }
        return (0..<block.rowCount).map { row in
            let key = columns.map { $0[row] }
            // The first boundary the row sorts before.
            var low = 0, high = boundaries.count
            while low < high {
                let middle = (low + high) / 2
                if Self.less(boundaries[middle], key, keys) || boundaries[middle] == key { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    /// Whether key row `a` sorts before `b`.
    static func less(_ a: [Value], _ b: [Value], _ keys: [SortKey]) -> Bool {
        for (index, key) in keys.enumerated() where a[index] != b[index] {
            return (a[index] < b[index]) != key.descending
        }
        return false
    }
}
