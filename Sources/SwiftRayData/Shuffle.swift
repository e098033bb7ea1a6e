import SwiftRay

/// How an all-to-all step assigns each row of a block to an output.
enum Partitioner: Codable, Sendable {
    /// Sorted ranges split by boundary key rows (equal keys always land together).
    case range([SortKey], boundaries: [[Value]])
    /// Uniformly at random over `count` outputs, seeded per block.
    case random(seed: UInt64, count: Int)
    /// Contiguous runs of rows: output `i` takes the dataset's rows `cuts[i]..<cuts[i+1]`; block
    /// `b` starts at row `offsets[b]` of the dataset.
    case rows(cuts: [Int], offsets: [Int])

    /// Where each block starts among all their rows, and (last) the total.
    static func starts(of blocks: [BlockRef]) -> [Int] {
        blocks.reduce(into: [0]) { $0.append($0.last! + $1.meta.rows) }
    }

    /// Contiguous runs cut at `cuts` over `blocks` in order.
    static func rows(cuts: [Int], of blocks: [BlockRef]) -> Partitioner {
        .rows(cuts: cuts, offsets: Array(starts(of: blocks).dropLast()))
    }

    var outputs: Int {
        switch self {
        case .range(_, let boundaries): boundaries.count + 1
        case .random(_, let count): count
        case .rows(let cuts, _): cuts.count - 1
        }
    }

    /// The output each row of `block` (the `index`th block) goes to.
    func assign(_ block: Block, index: Int) -> [Int] {
        switch self {
        case .range(let keys, let boundaries): return SortKey.partitions(block, by: keys, boundaries: boundaries)
        case .random(let seed, let count):
            var generator = SeededRandom(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
            return (0..<block.rowCount).map { _ in Int(generator.next() % UInt64(count)) }
        case .rows(let cuts, let offsets):
            let offset = offsets[index]
            var output = 0
            return (0..<block.rowCount).map { row in
                while output + 1 < cuts.count - 1, offset + row >= cuts[output + 1] { output += 1 }
                return output
            }
        }
    }
}

/// What an all-to-all step does with the pieces an output receives.
enum MergeStep: Codable, Sendable {
    case concat
    case sort([SortKey])
    /// Rows shuffled (seeded per output).
    case shuffle(seed: UInt64)
    /// Sorted by the keys, then each group through the mapper.
    case mapGroups(keys: [String], ShippedFunction)

    var name: String {
        switch self {
        case .concat: "Repartition"
        case .sort: "Sort"
        case .shuffle: "RandomShuffle"
        case .mapGroups: "MapGroups"
        }
    }

    func apply(_ block: Block, output: Int) throws -> Block {
        switch self {
        case .concat: return block
        case .sort(let keys): return block.gather(SortKey.order(block, by: keys))
        case .shuffle(let seed):
            var generator = SeededRandom(seed: seed ^ (UInt64(output) &* 0xBF58_476D_1CE4_E5B9))
            var order = Array(0..<block.rowCount)
            order.shuffle(using: &generator)
            return block.gather(order)
        case .mapGroups(let keys, let function):
            let mapper = try function.rebuild(as: (any GroupMapper).self)
            let sorted = block.gather(SortKey.order(block, by: keys.map { SortKey($0) }))
            return Block.concat(try GroupedAggregation.runs(of: sorted, keys: keys).map { try mapper(sorted.slice($0)) })
        }
    }
}

/// Up to `count` evenly spaced key rows of a block (the sort's sample).
@Remote func dataSample(_ block: Block, _ keys: [SortKey], _ count: Int) throws -> [[Value]] {
    guard block.rowCount > 0 else { return [] }
    let columns = try keys.map { try block.column($0.column) }
    let step = max(1, block.rowCount / max(1, count))
    return stride(from: 0, to: block.rowCount, by: step).map { row in columns.map { $0[row] } }
}

/// Splits a block into an all-to-all step's outputs, each piece stored as its own object.
@Remote func dataPartition(_ block: Block, _ partitioner: Partitioner, _ index: Int) throws -> [ObjectRef<Block>] {
    var indices = [[Int]](repeating: [], count: partitioner.outputs)
    for (row, output) in partitioner.assign(block, index: index).enumerated() { indices[output].append(row) }
    return try indices.map { try ray.put(block.gather($0)) }
}

/// One output of an all-to-all step: its pieces from every block, merged.
@Remote func dataMerge(_ pieces: [ObjectRef<Block>], _ step: MergeStep, _ output: Int) async throws -> (block: Block, meta: BlockMeta) {
    var blocks: [Block] = []
    for ref in pieces { blocks.append(try await ref.get()) }
    let started = ContinuousClock.now
    let block = try step.apply(Block.concat(blocks), output: output)
    return (block, BlockMeta(block, [OperatorTiming(name: step.name, block, since: started)]))
}

/// A transform of each group's rows (Ray Data's `map_groups`): the rows of one key, sorted, in;
/// any rows out.
public protocol GroupMapper: Codable, Sendable {
    func callAsFunction(_ group: Block) throws -> Block
}

extension GroupedAggregation {
    /// The ranges of equal keys in a block sorted by them.
    static func runs(of block: Block, keys: [String]) -> [Range<Int>] {
        let columns = keys.compactMap { block[$0] }
        var runs: [Range<Int>] = []
        var start = 0
        for row in 0..<block.rowCount where row > 0 && columns.contains(where: { $0[row] != $0[row - 1] }) {
            runs.append(start..<row)
            start = row
        }
        if block.rowCount > 0 { runs.append(start..<block.rowCount) }
        return runs
    }
}

/// One block's columns beside another's (same rows); a name on both sides gets `_1` on the right.
@Remote func dataZip(_ left: Block, _ right: Block) throws -> (block: Block, meta: BlockMeta) {
    let started = ContinuousClock.now
    var block = left
    for (name, column) in Swift.zip(right.names, right.columns) {
        var unique = name
        while block[unique] != nil { unique += "_1" }
        block = try block.setting(unique, column)
    }
    return (block, BlockMeta(block, [OperatorTiming(name: "Zip", block, since: started)]))
}
