import Foundation
import SwiftRay

/// What a stage task reports besides its block: enough for the executor to pace itself and for
/// `count()` and `stats()` without fetching the block.
struct BlockMeta: Codable, Sendable {
    var rows: Int
    var bytes: Int
    var names: [String]
    var types: [DataType]
    /// Per operator of the fused chain: name, rows out, seconds.
    var operators: [OperatorTiming]
    /// Files written, when the stage ended in a sink.
    var written: [String] = []
}

extension BlockMeta {
    init(_ block: Block, _ operators: [OperatorTiming]) {
        self.init(rows: block.rowCount, bytes: block.byteCount, names: block.names, types: block.columns.map(\.type), operators: operators)
    }
}

/// One operator's work in one task.
struct OperatorTiming: Codable, Sendable {
    var name: String
    var rows: Int
    var bytes: Int
    var seconds: Double

    init(name: String, _ block: Block, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        self.name = name
        rows = block.rowCount
        bytes = block.byteCount
        seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// Where a stage's block goes instead of back to the driver.
enum BlockSink: Codable, Sendable {
    case csv(folder: String, prefix: String, options: CSVOptions)
    case jsonLines(folder: String, prefix: String)
    case parquet(folder: String, prefix: String, options: ParquetOptions)

    /// Writes `block` as file number `index` (deterministic names: `<prefix>_000003.csv`).
    func write(_ block: Block, index: Int) throws -> String {
        let number = String(format: "%06d", index)
        switch self {
        case .csv(let folder, let prefix, let options):
            let path = "\(folder)/\(prefix)_\(number).csv"
            try FileSources.write(CSVWriter.text(block, options: options), to: path)
            return path
        case .jsonLines(let folder, let prefix):
            let path = "\(folder)/\(prefix)_\(number).jsonl"
            try FileSources.write(try JSONRows.text(block), to: path)
            return path
        case .parquet(let folder, let prefix, let options):
            let path = "\(folder)/\(prefix)_\(number).parquet"
            try ParquetFile.write(block, to: path, options: options)
            return path
        }
    }
}

/// Where a stage's block comes from.
enum StageInput: Codable, Sendable {
    case read(ReadTask)
    case block(ObjectRef<Block>)
}

/// A fused stage: read (or receive) a block, run the chain on it, and write it or return it.
@Remote func dataStage(_ input: StageInput, _ operations: [StageOperation], _ sink: BlockSink?, _ index: Int) async throws
    -> (block: Block, meta: BlockMeta) {
    var timings: [OperatorTiming] = []
    var started = ContinuousClock.now
    func timed(_ name: String, _ block: Block) -> Block {
        timings.append(OperatorTiming(name: name, block, since: started))
        started = .now
        return block
    }
    var block: Block
    switch input {
    case .read(let task): block = timed("Read", try task.read(columns: StageOperation.inputColumns(of: operations, end: nil)))
    case .block(let ref): block = try await ref.get()
    }
    for operation in operations { block = timed(operation.name, try operation.apply(block)) }
    var meta = BlockMeta(block, timings)
    if let sink {
        meta.written = [try sink.write(block, index: index)]
        _ = timed("Write", block)
        meta.operators = timings
        return (.empty, meta)
    }
    return (block, meta)
}

/// Merges every block's partial aggregates into the result.
@Remote func dataCombine(_ partials: [ObjectRef<Block>], _ keys: [String], _ aggregates: [Aggregate]) async throws -> (block: Block, meta: BlockMeta) {
    var blocks: [Block] = []
    for ref in partials { blocks.append(try await ref.get()) }
    let all = Block.concat(blocks)
    var types: [String: DataType] = [:]
    for (index, aggregate) in aggregates.enumerated() {
        if let column = aggregate.column, case .bool(let isInt)? = all["__t\(index)"]?.storage, isInt.contains(true) { types[column] = .int64 }
    }
    let started = ContinuousClock.now
    let block = try GroupedAggregation(keys: keys, aggregates: aggregates).combine(all, types: types)
    return (block, BlockMeta(block, [OperatorTiming(name: "Aggregate", block, since: started)]))
}
