import Foundation

/// An aggregation over groups (or the whole dataset): Ray Data's `Count`, `Sum`, `Mean`, `Min`,
/// `Max`, `Std`. Nulls are skipped; a group with no values gets null (count counts rows).
public struct Aggregate: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case count, sum, mean, min, max, std }

    public var kind: Kind
    public var column: String?
    /// The result column's name (Ray's: `count()`, `sum(x)`, `mean(x)`, ...).
    public var alias: String?
    /// Delta degrees of freedom for `std` (Ray's default: 1).
    public var ddof: Int = 1

    public static func count(alias: String? = nil) -> Aggregate { Aggregate(kind: .count, column: nil, alias: alias) }
    public static func sum(_ column: String, alias: String? = nil) -> Aggregate { Aggregate(kind: .sum, column: column, alias: alias) }
    public static func mean(_ column: String, alias: String? = nil) -> Aggregate { Aggregate(kind: .mean, column: column, alias: alias) }
    public static func min(_ column: String, alias: String? = nil) -> Aggregate { Aggregate(kind: .min, column: column, alias: alias) }
    public static func max(_ column: String, alias: String? = nil) -> Aggregate { Aggregate(kind: .max, column: column, alias: alias) }
    public static func std(_ column: String, ddof: Int = 1, alias: String? = nil) -> Aggregate {
        Aggregate(kind: .std, column: column, alias: alias, ddof: ddof)
    }

    /// The result column's name.
    public var name: String { alias ?? (kind == .count ? "count()" : "\(kind.rawValue)(\(column ?? ""))") }
}

/// Group-by aggregation in two steps: `partial` per block (inside the task that made the block, so
/// only one row per group leaves it), then `combine` over every block's partial rows.
struct GroupedAggregation {
    let keys: [String]
    let aggregates: [Aggregate]

    /// Per aggregate, its running state for each group.
    private struct State {
        var count: [Int64]
        var sum: [Double]
        var intSum: [Int64]
        var mean: [Double]
        var m2: [Double]
        var low: [Double]
        var high: [Double]

        init(groups: Int) {
            count = .init(repeating: 0, count: groups)
            sum = .init(repeating: 0, count: groups)
            intSum = .init(repeating: 0, count: groups)
            mean = .init(repeating: 0, count: groups)
            m2 = .init(repeating: 0, count: groups)
            low = .init(repeating: .infinity, count: groups)
            high = .init(repeating: -.infinity, count: groups)
        }

        /// Adds single values without the variance (every aggregate but std): no division per row;
        /// the mean is the sum over the count.
        mutating func addPlain(_ ids: [Int], _ values: [Double], _ ints: [Int64]?, _ validity: [Bool]?) {
            for (row, g) in ids.enumerated() where validity?[row] ?? true {
                let x = values[row]
                count[g] += 1
                sum[g] += x
                if let ints { intSum[g] &+= ints[row] }
                low[g] = Swift.min(low[g], x)
                high[g] = Swift.max(high[g], x)
            }
            for g in count.indices where count[g] > 0 { mean[g] = sum[g] / Double(count[g]) }
        }

        /// Adds `n` values summarised as (sum, integer sum, mean, M2, min, max) to group `g`
        /// (Chan et al.'s pairwise update for the variance).
        mutating func add(_ g: Int, n: Int64, sum s: Double, intSum i: Int64, mean m: Double, m2 q: Double, low l: Double, high h: Double) {
            guard n > 0 else { return }
            let total = count[g] + n
            let delta = m - mean[g]
            mean[g] += delta * Double(n) / Double(total)
            m2[g] += q + delta * delta * Double(count[g]) * Double(n) / Double(total)
            count[g] = total
            sum[g] += s
            intSum[g] &+= i
            low[g] = Swift.min(low[g], l)
            high[g] = Swift.max(high[g], h)
        }
    }

    /// One row per group of `block`: the keys and each aggregate's state.
    func partial(_ block: Block) throws -> Block {
        let (ids, firsts) = try groups(of: block)
        var columns = try keys.map { try block.column($0).gather(firsts) }
        var names = keys
        for (index, aggregate) in aggregates.enumerated() {
            var state = State(groups: firsts.count)
            var integer = false
            if aggregate.kind == .count {
                for g in ids { state.count[g] += 1 }
            } else {
                let column = try block.column(aggregate.column ?? "")
                guard let values = column.doubles else {
                    throw DataError.typeMismatch("\(aggregate.name) of the \(column.type) column \(aggregate.column ?? "")")
                }
                let ints: [Int64]? = if case .int64(let v) = column.storage { v.array } else { nil }
                integer = ints != nil
                if aggregate.kind == .std {
                    for (row, g) in ids.enumerated() where !column.isNull(row) {
                        let x = values[row]
                        state.add(g, n: 1, sum: x, intSum: ints?[row] ?? 0, mean: x, m2: 0, low: x, high: x)
                    }
                } else {
                    state.addPlain(ids, values, ints, column.validity)
                }
            }
            names += stateNames(index) + ["__t\(index)"]
            columns += stateColumns(state) + [.bools([Bool](repeating: integer, count: firsts.count))]
        }
        return try Block(names: names, columns: columns)
    }

    /// The aggregates of every group from the partial rows of all blocks, sorted by the keys.
    /// `types` are the aggregated columns' types (integer sums, minima and maxima stay integers).
    func combine(_ partials: Block, types: [String: DataType]) throws -> Block {
        let (ids, firsts) = try groups(of: partials)
        var columns = try keys.map { try partials.column($0).gather(firsts) }
        var names = keys
        for (index, aggregate) in aggregates.enumerated() {
            var state = State(groups: firsts.count)
            let parts = try stateNames(index).map { try partials.column($0) }
            let n = ints(parts[0]), s = doubles(parts[1]), i = ints(parts[2]), m = doubles(parts[3])
            let q = doubles(parts[4]), l = doubles(parts[5]), h = doubles(parts[6])
            for (row, g) in ids.enumerated() {
                if aggregate.kind == .count { state.count[g] += n[row]; continue }
                state.add(g, n: n[row], sum: s[row], intSum: i[row], mean: m[row], m2: q[row], low: l[row], high: h[row])
            }
            names.append(aggregate.name)
            columns.append(result(aggregate, state, integer: aggregate.column.flatMap { types[$0] } == .int64))
        }
        let block = try Block(names: names, columns: columns)
        return block.gather(SortKey.order(block, by: keys.map { SortKey($0) }))
    }

    private func stateNames(_ index: Int) -> [String] { ["n", "s", "i", "m", "q", "l", "h"].map { "__\($0)\(index)" } }

    private func stateColumns(_ state: State) -> [Column] {
        [.ints(state.count), .doubles(state.sum), .ints(state.intSum), .doubles(state.mean), .doubles(state.m2), .doubles(state.low), .doubles(state.high)]
    }

    private func ints(_ column: Column) -> [Int64] { if case .int64(let v) = column.storage { v.array } else { [] } }
    private func doubles(_ column: Column) -> [Double] { column.doubles ?? [] }

    private func result(_ aggregate: Aggregate, _ state: State, integer: Bool) -> Column {
        let empty = state.count.map { $0 > 0 }
        switch aggregate.kind {
        case .count: return .ints(state.count)
        case .sum: return integer ? Column(.int64(state.intSum), validity: empty) : Column(.double(state.sum), validity: empty)
        case .mean: return Column(.double(state.mean), validity: empty)
        case .min: return integer ? Column(.int64(state.low.map { $0.isFinite ? Int64($0) : 0 }), validity: empty) : Column(.double(state.low), validity: empty)
        case .max: return integer ? Column(.int64(state.high.map { $0.isFinite ? Int64($0) : 0 }), validity: empty) : Column(.double(state.high), validity: empty)
        case .std:
            let ddof = Int64(aggregate.ddof)
            let values = zip(state.m2, state.count).map { m2, n in n > ddof ? (m2 / Double(n - ddof)).squareRoot() : 0 }
            return Column(.double(values), validity: state.count.map { $0 > ddof })
        }
    }

    /// Each row's group (numbered in order of first appearance) and each group's first row.
    /// Groups of integer keys in a small range, by a table indexed by value instead of hashing.
    private static func denseGroups(_ values: UnsafeBufferPointer<Int64>) -> (ids: [Int], firsts: [Int])? {
        guard let low = values.min(), let high = values.max(), high &- low >= 0, high - low < Swift.max(1 << 16, Int64(values.count)) else { return nil }
        var slot = [Int](repeating: -1, count: Int(high - low) + 1)
        var ids = [Int](repeating: 0, count: values.count)
        var firsts: [Int] = []
        for (row, value) in values.enumerated() {
            let k = Int(value - low)
            if slot[k] < 0 { slot[k] = firsts.count; firsts.append(row) }
            ids[row] = slot[k]
        }
        return (ids, firsts)
    }

    private func groups(of block: Block) throws -> (ids: [Int], firsts: [Int]) {
        var ids = [Int](repeating: 0, count: block.rowCount)
        var firsts: [Int] = []
        if keys.isEmpty {
            return (ids, block.rowCount > 0 ? [0] : [])
        }
        let columns = try keys.map { try block.column($0) }
        if columns.count == 1, case .int64(let values) = columns[0].storage, columns[0].validity == nil {
            if let dense = values.withUnsafeBufferPointer(Self.denseGroups) { return dense }
            var seen: [Int64: Int] = [:]
            for (row, value) in values.enumerated() {
                if let g = seen[value] { ids[row] = g } else { seen[value] = firsts.count; ids[row] = firsts.count; firsts.append(row) }
            }
            return (ids, firsts)
        }
        var seen: [[Value]: Int] = [:]
        for row in 0..<block.rowCount {
            let key = columns.map { $0[row] }
            if let g = seen[key] { ids[row] = g } else { seen[key] = firsts.count; ids[row] = firsts.count; firsts.append(row) }
        }
        return (ids, firsts)
    }
}
