import Foundation
import SwiftRay

/// A distributed dataset (Ray Data's `Dataset`): a lazy plan over blocks of rows that runs as
/// tasks on the cluster when consumed, streaming: reads, per-row and per-batch transforms fuse into
/// one task per block, and only a bounded window of blocks is in flight at once.
///
/// ```swift
/// let ds = try Dataset.readCSV("data/*.csv")
///     .withColumn("total", col("price") * col("quantity"))
///     .filter(col("total") > 100)
/// let perRegion = try await ds.groupBy("region").aggregate(.count(), .sum("total")).takeAll()
/// ```
public struct Dataset: Sendable {
    let plan: Plan
    /// The context the dataset executes with (`DataContext.current` when it was made).
    public let context: DataContext
    let recorder: StatsRecorder
    /// The name the dashboard's Data page shows (`named(_:)`; else `dataset_N` per execution).
    public let name: String?

    init(_ plan: Plan, context: DataContext = .current, name: String? = nil) {
        self.plan = plan
        self.context = context
        self.name = name
        recorder = StatsRecorder(progress: context.progressBars)
    }

    /// A run of the plan, its statistics recorded for `stats()` and published for the dashboard.
    func execution(sink: BlockSink? = nil) -> Execution {
        recorder.reset(name: name, publish: context.publishStats)
        return Execution(context: context, recorder: recorder, sink: sink)
    }

    func with(_ plan: Plan) -> Dataset { Dataset(plan, context: context, name: name) }

    /// The dataset under `name` (Ray's `set_name`): its executions appear so on the dashboard's
    /// Data page and in `/metrics`.
    public func named(_ name: String) -> Dataset { Dataset(plan, context: context, name: name) }

    // MARK: Sources

    /// Integers `0..<n` in a column `id`, in `blocks` blocks (default: 2 per CPU, up to 200).
    public static func range(_ n: Int, blocks: Int? = nil) -> Dataset {
        let count = max(1, min(n, blocks ?? min(200, max(2, ProcessInfo.processInfo.activeProcessorCount * 2))))
        return Dataset(.read((0..<count).map { i in .range(start: i * n / count, count: (i + 1) * n / count - i * n / count) }))
    }

    /// The given rows, in `blocks` blocks (default: one per 10,000 rows, at least one).
    public static func fromItems(_ rows: [Row], blocks: Int? = nil) -> Dataset {
        let count = max(1, min(max(rows.count, 1), blocks ?? (rows.count + 9_999) / 10_000))
        return Dataset(.read((0..<count).map { i in .items(Block(rows: Array(rows[(i * rows.count / count)..<((i + 1) * rows.count / count)]))) }))
    }

    /// Rows from `Encodable` records (Ray's `from_items` of dictionaries): each record's keys are
    /// columns (a record's keys sorted by name, columns in the order first seen; a nil optional is
    /// left out of its record, so null there).
    /// - Throws: `DataError.invalid` for a record that is not a flat object.
    public static func fromItems<T: Encodable>(_ items: [T], blocks: Int? = nil) throws -> Dataset {
        fromItems(try items.map { try Row(encoding: $0) }, blocks: blocks)
    }

    /// The given blocks as they are.
    public static func fromBlocks(_ blocks: [Block]) -> Dataset { Dataset(.read(blocks.map { .items($0) })) }

    /// CSV files: paths, folders (every file in them) and glob patterns. A file over the context's
    /// `targetBlockBytes` is read as several blocks split at line ends (so values with line breaks
    /// inside quotes need `splitFiles: false`).
    /// - Throws: `DataError.io` for paths that do not exist. Parse errors surface on consumption.
    public static func readCSV(_ paths: String..., options: CSVOptions = CSVOptions(), splitFiles: Bool = true) throws -> Dataset {
        try readCSV(paths, options: options, splitFiles: splitFiles)
    }

    /// CSV files (see the variadic form).
    public static func readCSV(_ paths: [String], options: CSVOptions = CSVOptions(), splitFiles: Bool = true) throws -> Dataset {
        let context = DataContext.current
        return Dataset(.read(try FileSources.resolve(paths).flatMap { path in
            try FileSources.ranges(path, target: splitFiles ? context.targetBlockBytes : nil).map {
                .csv(path: path, start: $0.lowerBound, end: $0.upperBound, options: options)
            }
        }), context: context)
    }

    /// Text files, a row per line in a column `text`.
    public static func readText(_ paths: String...) throws -> Dataset {
        let context = DataContext.current
        return Dataset(.read(try FileSources.resolve(paths).flatMap { path in
            try FileSources.ranges(path, target: context.targetBlockBytes).map { .text(path: path, start: $0.lowerBound, end: $0.upperBound) }
        }), context: context)
    }

    /// JSON lines files: a JSON object per line, its keys the columns.
    public static func readJSON(_ paths: String...) throws -> Dataset {
        let context = DataContext.current
        return Dataset(.read(try FileSources.resolve(paths).flatMap { path in
            try FileSources.ranges(path, target: context.targetBlockBytes).map { .jsonLines(path: path, start: $0.lowerBound, end: $0.upperBound) }
        }), context: context)
    }

    /// Parquet files (flat schemas; PLAIN and dictionary encodings; uncompressed, snappy or gzip):
    /// paths, folders and glob patterns. A file is one block, or, when it is larger than the
    /// context's `targetBlockBytes`, a block per run of row groups about that size. Only the
    /// columns the plan uses are decoded.
    /// - Throws: `DataError.io` for paths that do not exist or files that are not Parquet.
    public static func readParquet(_ paths: String...) throws -> Dataset {
        try readParquet(paths)
    }

    /// Parquet files (see the variadic form).
    public static func readParquet(_ paths: [String]) throws -> Dataset {
        let context = DataContext.current
        return Dataset(.read(try FileSources.resolve(paths).flatMap { path -> [ReadTask] in
            guard try FileSources.fileSize(path) > context.targetBlockBytes else { return [.parquet(path: path, rowGroups: nil)] }
            return ParquetReader.groupRuns(try ParquetReader.rowGroups(path), target: context.targetBlockBytes).map { .parquet(path: path, rowGroups: $0) }
        }), context: context)
    }

    /// Whole files, a row each: `path` and `bytes`.
    public static func readBinaryFiles(_ paths: String...) throws -> Dataset {
        Dataset(.read(try FileSources.resolve(paths).map { .binary(path: $0) }))
    }

    // MARK: Transforms (lazy)

    /// Each row through `mapper`.
    public func map<M: RowMapper>(_ mapper: M) throws -> Dataset { with(plan.adding(.map(try ShippedFunction(mapper)))) }

    /// Each row into any number of rows.
    public func flatMap<M: FlatMapper>(_ mapper: M) throws -> Dataset { with(plan.adding(.flatMap(try ShippedFunction(mapper)))) }

    /// The rows `predicate` keeps.
    public func filter<P: RowPredicate>(_ predicate: P) throws -> Dataset { with(plan.adding(.filterRows(try ShippedFunction(predicate)))) }

    /// The rows where `expression` is true (null is false): `ds.filter(col("x") > 0.5)`.
    public func filter(_ expression: Expression) -> Dataset { with(plan.adding(.filter(expression))) }

    /// Batches of up to `batchSize` rows (nil: whole blocks) through `mapper`. `numCPUs`,
    /// `numGPUs` and `resources` are what each task running it holds (Ray's per-call resources;
    /// a fused stage holds the most any of its steps asks).
    public func mapBatches<M: BatchMapper>(
        _ mapper: M, batchSize: Int? = nil, numCPUs: Double? = nil, numGPUs: Double? = nil, resources: [String: Double] = [:]
    ) throws -> Dataset {
        batches(try ShippedFunction(mapper), batchSize, TaskResources(numCPUs: numCPUs, numGPUs: numGPUs, resources: resources))
    }

    /// Batches as typed records (`RecordBatchMapper`: `[Input]` in, `[Output]` out), for code that
    /// wants structs rather than columns; `batchSize` and resources as for column batches.
    public func mapBatches<M: RecordBatchMapper>(
        _ mapper: M, batchSize: Int? = nil, numCPUs: Double? = nil, numGPUs: Double? = nil, resources: [String: Double] = [:]
    ) throws -> Dataset {
        batches(try ShippedFunction(mapper), batchSize, TaskResources(numCPUs: numCPUs, numGPUs: numGPUs, resources: resources))
    }

    private func batches(_ function: ShippedFunction, _ batchSize: Int?, _ asked: TaskResources) -> Dataset {
        let holds = asked == TaskResources() ? nil : asked
        return with(plan.adding(.mapBatches(function, batchSize: batchSize, resources: holds)))
    }

    /// A column computed from others (Ray's `with_column`): `ds.withColumn("c", col("a") + col("b"))`.
    public func withColumn(_ name: String, _ expression: Expression) -> Dataset { with(plan.adding(.withColumn(name, expression))) }

    /// Only these columns, in this order.
    public func selectColumns(_ names: String...) -> Dataset { with(plan.adding(.select(names))) }

    /// Without these columns.
    public func dropColumns(_ names: String...) -> Dataset { with(plan.adding(.drop(names))) }

    /// With columns renamed (`["old": "new"]`).
    public func renameColumns(_ renames: [String: String]) -> Dataset { with(plan.adding(.rename(renames))) }

    /// The first `count` rows.
    public func limit(_ count: Int) -> Dataset { with(.limit(plan, max(0, count))) }

    /// This dataset's rows, then the others'.
    public func union(_ others: Dataset...) -> Dataset { with(.union([plan] + others.map(\.plan))) }

    /// This dataset's columns and `other`'s side by side, row by row (Ray's `zip`); both must
    /// have as many rows. A column name on both sides gets `_1` on the right.
    public func zip(_ other: Dataset) -> Dataset { with(.zip(plan, other.plan)) }

    /// Sorted by `column` (a distributed sort: sampled ranges, one task per range).
    public func sort(_ column: String, descending: Bool = false) -> Dataset { sort(by: [SortKey(column, descending: descending)]) }

    /// Sorted by several keys.
    public func sort(by keys: [SortKey]) -> Dataset { with(.sort(plan, keys)) }

    /// The rows in a random order (Ray's `random_shuffle`): every block's rows scattered over as
    /// many outputs, each shuffled. The same `seed` gives the same order.
    public func randomShuffle(seed: UInt64? = nil) -> Dataset { with(.randomShuffle(plan, seed: seed)) }

    /// The rows, in order, in `count` blocks of (nearly) equal size.
    public func repartition(_ count: Int) -> Dataset { with(.repartition(plan, max(1, count))) }

    /// Rows grouped by `keys`, for `aggregate`.
    public func groupBy(_ keys: String...) -> GroupedData { GroupedData(dataset: self, keys: keys) }

    // MARK: Consumers

    /// Runs the plan and keeps its blocks in the object store (Ray's `materialize`).
    public func materialize() async throws -> Dataset { with(.blocks(try await execution().collect(plan))) }

    /// The number of rows.
    public func count() async throws -> Int {
        try await execution().collect(plan).reduce(0) { $0 + $1.meta.rows }
    }

    /// The columns and their types (from the first block with columns).
    public func schema() async throws -> Schema? {
        let source = execution().producer(plan)
        while let next = try await source.next() {
            if !next.meta.names.isEmpty { return Schema(fields: Swift.zip(next.meta.names, next.meta.types).map { ($0, $1) }) }
        }
        return nil
    }

    /// The first `count` rows.
    public func take(_ count: Int = 20) async throws -> [Row] {
        var rows: [Row] = []
        for try await block in limit(count).iterBlocks() { rows += block.rows }
        return rows
    }

    /// Every row (mind the memory: `iterRows` streams).
    public func takeAll() async throws -> [Row] {
        var rows: [Row] = []
        for try await block in iterBlocks() { rows += block.rows }
        return rows
    }

    /// The first `count` rows decoded as `T` (its properties matched to columns by name).
    public func take<T: Decodable>(_ count: Int = 20, as type: T.Type) async throws -> [T] {
        try await take(count).map { try $0.decode(as: T.self) }
    }

    /// Every row decoded as `T`.
    public func takeAll<T: Decodable>(as type: T.Type) async throws -> [T] {
        try await takeAll().map { try $0.decode(as: T.self) }
    }

    /// Every row in one block.
    public func toBlock() async throws -> Block {
        var blocks: [Block] = []
        for try await block in iterBlocks() { blocks.append(block) }
        return Block.concat(blocks)
    }

    /// Prints the first `count` rows.
    public func show(_ count: Int = 20) async throws {
        for row in try await take(count) { print(row) }
    }

    /// The aggregates over the whole dataset, as one row: `ds.aggregate(.count(), .mean("x"))`.
    public func aggregate(_ aggregates: Aggregate...) async throws -> Row {
        let rows = try await with(.aggregate(plan, keys: [], aggregates)).takeAll()
        return rows.first ?? Row(names: aggregates.map(\.name), values: aggregates.map { $0.kind == .count ? .int(0) : .null })
    }

    /// Writes a CSV file per block into `folder` (created if missing), named
    /// `<prefix>_000000.csv`, `..._000001.csv` in block order; returns their paths.
    @discardableResult
    public func writeCSV(_ folder: String, prefix: String = "part", options: CSVOptions = CSVOptions()) async throws -> [String] {
        try await write(to: folder, .csv(folder: folder, prefix: prefix, options: options))
    }

    /// Writes a JSON lines file per block into `folder`.
    @discardableResult
    public func writeJSON(_ folder: String, prefix: String = "part") async throws -> [String] {
        try await write(to: folder, .jsonLines(folder: folder, prefix: prefix))
    }

    /// Writes a Parquet file per block into `folder`, named `<prefix>_000000.parquet`, ...: one row
    /// group each, every column nullable, strings UTF-8 (read by pyarrow, pandas, Polars, DuckDB).
    /// - Throws: `DataError.invalid` for vector columns (Parquet nests them; this writes flat schemas).
    @discardableResult
    public func writeParquet(_ folder: String, prefix: String = "part", options: ParquetOptions = ParquetOptions()) async throws -> [String] {
        try await write(to: folder, .parquet(folder: folder, prefix: prefix, options: options))
    }

    private func write(to folder: String, _ sink: BlockSink) async throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw DataError.io(path: folder, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        return try await execution(sink: sink).collect(plan).flatMap(\.meta.written)
    }
}

/// A dataset grouped by key columns (Ray's `GroupedData`).
public struct GroupedData: Sendable {
    let dataset: Dataset
    let keys: [String]

    /// One row per group, sorted by the keys: the keys and each aggregate.
    public func aggregate(_ aggregates: Aggregate...) -> Dataset {
        Dataset(.aggregate(dataset.plan, keys: keys, aggregates), context: dataset.context)
    }

    /// Each group's rows (sorted by the keys) through `mapper` (Ray's `map_groups`).
    public func mapGroups<M: GroupMapper>(_ mapper: M) throws -> Dataset {
        Dataset(.mapGroups(dataset.plan, keys: keys, try ShippedFunction(mapper)), context: dataset.context)
    }

    /// Rows per group, in a column `count()`.
    public func count() -> Dataset { aggregate(.count()) }
    public func sum(_ column: String) -> Dataset { aggregate(.sum(column)) }
    public func mean(_ column: String) -> Dataset { aggregate(.mean(column)) }
    public func min(_ column: String) -> Dataset { aggregate(.min(column)) }
    public func max(_ column: String) -> Dataset { aggregate(.max(column)) }
    public func std(_ column: String, ddof: Int = 1) -> Dataset { aggregate(.std(column, ddof: ddof)) }
}

extension Dataset {
    /// `count` datasets of (nearly) equal row counts, in order (Ray's `split(n, equal=True)`);
    /// runs the plan.
    public func split(_ count: Int) async throws -> [Dataset] {
        let parts = try await with(.repartition(plan, max(1, count))).materialize()
        guard case .blocks(let refs) = parts.plan else { return [parts] }
        return refs.map { with(.blocks([$0])) }
    }

    /// The rows split into a training and a test dataset (Ray's `train_test_split`): the last
    /// `testFraction` of the rows (after a seeded shuffle when `shuffle`) are the test set.
    public func trainTestSplit(testFraction: Double, shuffle: Bool = false, seed: UInt64? = nil) async throws -> (train: Dataset, test: Dataset) {
        guard testFraction > 0, testFraction < 1 else { throw DataError.invalid("testFraction must be in (0, 1), not \(testFraction)") }
        let source = shuffle ? randomShuffle(seed: seed) : self
        let all = try await source.materialize()
        let total = try await all.count()
        let testRows = Int((Double(total) * testFraction).rounded(.up))
        let train = total - testRows
        // Two outputs cut at `train` rows.
        guard case .blocks(let refs) = all.plan else { return (all, all.limit(0)) }
        let halves = try await Execution(context: context, recorder: recorder, sink: nil).cut(refs, at: train)
        return (with(.blocks(halves.0)), with(.blocks(halves.1)))
    }
}
