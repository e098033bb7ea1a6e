import Logging
import SwiftRay

/// A block in the object store and what its task reported.
struct BlockRef: Codable, Sendable {
    var ref: ObjectRef<Block>
    var meta: BlockMeta
}

/// A dataset's logical plan: sources, fused chains of per-block operators, and all-to-all steps.
indirect enum Plan: Codable, Sendable {
    case read([ReadTask])
    case blocks([BlockRef])
    case chain(Plan, [StageOperation])
    case limit(Plan, Int)
    case union([Plan])
    case aggregate(Plan, keys: [String], [Aggregate])
    case sort(Plan, [SortKey])
    case randomShuffle(Plan, seed: UInt64?)
    case repartition(Plan, Int)
    case mapGroups(Plan, keys: [String], ShippedFunction)
    case actorMap(Plan, ShippedFunction, batchSize: Int?, concurrency: ClosedRange<Int>, options: TaskResources)
    case zip(Plan, Plan)

    /// The plan with `operation` fused onto its last chain.
    func adding(_ operation: StageOperation) -> Plan {
        if case .chain(let input, let operations) = self { return .chain(input, operations + [operation]) }
        return .chain(self, [operation])
    }
}

/// Produces a plan's blocks in order, one at a time, running at most `window` tasks ahead of the
/// consumer: nothing more is started until the consumer takes a block, so memory stays bounded by
/// the window, not the dataset.
/// A producer is used by one consumer at a time (`@unchecked Sendable` so it can move between
/// tasks and actors; the streaming split's coordinator takes turns on it).
protocol BlockProducer: AnyObject, Sendable {
    func next() async throws -> BlockRef?
}

/// One run of a plan: its context, where statistics go, and the sink its blocks end in (if any).
struct Execution: Sendable {
    let context: DataContext
    let recorder: StatsRecorder
    let sink: BlockSink?

    /// A producer of `plan`'s blocks (written to the sink, if any); the recorder hears when it ends.
    func producer(_ plan: Plan) -> any BlockProducer { FinishingProducer(producer(plan, sink: sink), recorder: recorder) }

    /// Every block of `plan`, in order.
    func collect(_ plan: Plan) async throws -> [BlockRef] { try await Self.drain(producer(plan)) }

    private func collect(_ plan: Plan, sink: BlockSink?) async throws -> [BlockRef] { try await Self.drain(producer(plan, sink: sink)) }

    private static func drain(_ source: any BlockProducer) async throws -> [BlockRef] {
        var refs: [BlockRef] = []
        while let next = try await source.next() { refs.append(next) }
        return refs
    }

    private func stage(_ inputs: StageProducer.Inputs, _ operations: [StageOperation], _ sink: BlockSink?) -> StageProducer {
        StageProducer(inputs: inputs, operations: operations, sink: sink, context: context, recorder: recorder)
    }

    /// `source` as it is, or through a stage that writes its blocks to `sink`.
    private func sinking(_ source: any BlockProducer, _ sink: BlockSink?) -> any BlockProducer {
        sink.map { stage(.upstream(source), [], $0) } ?? source
    }

    private func producer(_ plan: Plan, sink: BlockSink?) -> any BlockProducer {
        switch plan {
        case .read(let tasks): return stage(.reads(tasks), [], sink)
        case .chain(.read(let tasks), let operations): return stage(.reads(tasks), operations, sink)
        case .chain(let input, let operations): return stage(.upstream(producer(input, sink: nil)), operations, sink)
        case .blocks(let refs): return sinking(ListProducer(refs), sink)
        case .limit(let input, let count): return sinking(LimitProducer(producer(input, sink: nil), count: count), sink)
        case .union(let plans): return sinking(UnionProducer(plans.map { producer($0, sink: nil) }), sink)
        case .aggregate(let input, let keys, let aggregates):
            return sinking(AllToAllProducer { try await aggregate(input, keys: keys, aggregates) }, sink)
        case .sort(let input, let keys):
            return sinking(AllToAllProducer { try await sort(input, keys: keys) }, sink)
        case .randomShuffle(let input, let seed):
            return sinking(AllToAllProducer { try await shuffle(input, seed: seed) }, sink)
        case .repartition(let input, let count):
            return sinking(AllToAllProducer { try await repartition(input, count: count) }, sink)
        case .actorMap(let input, let function, let batchSize, let concurrency, let options):
            let pool = ActorPoolProducer(
                upstream: producer(input, sink: nil), function: function, batchSize: batchSize, sizes: concurrency,
                options: options.actorOptions, recorder: recorder)
            return sinking(pool, sink)
        case .mapGroups(let input, let keys, let function):
            return sinking(AllToAllProducer { try await mapGroups(input, keys: keys, function) }, sink)
        case .zip(let left, let right):
            return sinking(AllToAllProducer { try await zip(left, right) }, sink)
        }
    }

    private func aggregate(_ input: Plan, keys: [String], _ aggregates: [Aggregate]) async throws -> [BlockRef] {
        let partials = try await collect(input.adding(.partialAggregate(keys: keys, aggregates)), sink: nil)
        let (block, meta) = $dataCombine.remote(partials.map(\.ref), keys, aggregates)
        return [try await recorded(block, meta)]
    }

    /// An all-to-all step: every block of `input` split by `partitioner` (made from the blocks),
    /// each output merged by `step`.
    private func exchange(
        _ input: Plan, _ step: MergeStep, partitioner: ([BlockRef]) async throws -> Partitioner
    ) async throws -> [BlockRef] {
        let blocks = try await collect(input, sink: nil).filter { $0.meta.rows > 0 }
        guard !blocks.isEmpty else { return [] }
        let split = try await partitioner(blocks)
        let pieces = try await ray.get(blocks.enumerated().map { $dataPartition.remote($1.ref, split, $0) })
        var outputs: [BlockRef] = []
        for output in 0..<split.outputs {
            let (block, meta) = $dataMerge.remote(pieces.map { $0[output] }, step, output)
            outputs.append(try await recorded(block, meta))
        }
        return outputs
    }

    /// Sorted ranges of about equal size, from a sample of every block's keys.
    private func ranges(_ blocks: [BlockRef], _ keys: [SortKey]) async throws -> Partitioner {
        let samples = try await ray.get(blocks.map { $dataSample.remote($0.ref, keys, 64) }).flatMap { $0 }
            .sorted { SortKey.less($0, $1, keys) }
        let count = blocks.count
        let boundaries = samples.isEmpty ? [] : (1..<max(1, count)).map { samples[min(samples.count - 1, $0 * samples.count / count)] }
        return .range(keys, boundaries: boundaries)
    }

    private func sort(_ input: Plan, keys: [SortKey]) async throws -> [BlockRef] {
        try await exchange(input, .sort(keys)) { try await ranges($0, keys) }
    }

    private func shuffle(_ input: Plan, seed: UInt64?) async throws -> [BlockRef] {
        let seed = seed ?? UInt64.random(in: 0...UInt64.max)
        return try await exchange(input, .shuffle(seed: seed)) { .random(seed: seed, count: $0.count) }
    }

    private func repartition(_ input: Plan, count: Int) async throws -> [BlockRef] {
        try await exchange(input, .concat) { blocks in
            let total = Partitioner.starts(of: blocks).last!
            return .rows(cuts: (0...count).map { $0 * total / count }, of: blocks)
        }
    }

    private func mapGroups(_ input: Plan, keys: [String], _ function: ShippedFunction) async throws -> [BlockRef] {
        try await exchange(input, .mapGroups(keys: keys, function)) { try await ranges($0, keys.map { SortKey($0) }) }
    }

    /// The columns of `right` beside those of `left`, row by row: `right` cut to `left`'s block sizes.
    private func zip(_ left: Plan, _ right: Plan) async throws -> [BlockRef] {
        let lefts = try await collect(left, sink: nil).filter { $0.meta.rows > 0 }
        let cuts = Partitioner.starts(of: lefts)
        let rights = try await exchange(right, .concat) { blocks in
            let total = Partitioner.starts(of: blocks).last!
            guard total == cuts.last! else { throw DataError.invalid("zip needs as many rows on both sides: \(cuts.last!) and \(total)") }
            return .rows(cuts: cuts, of: blocks)
        }
        guard !lefts.isEmpty else { return [] }
        var zipped: [BlockRef] = []
        for (l, r) in Swift.zip(lefts, rights) {
            let (block, meta) = $dataZip.remote(l.ref, r.ref)
            zipped.append(try await recorded(block, meta))
        }
        return zipped
    }

    /// The blocks' rows split in two at row `row`.
    func cut(_ blocks: [BlockRef], at row: Int) async throws -> ([BlockRef], [BlockRef]) {
        let total = Partitioner.starts(of: blocks).last!
        let outputs = try await exchange(.blocks(blocks), .concat) { .rows(cuts: [0, row, total], of: $0) }
        return (Array(outputs.prefix(1)), Array(outputs.dropFirst()))
    }

    private func recorded(_ block: ObjectRef<Block>, _ meta: ObjectRef<BlockMeta>) async throws -> BlockRef {
        let meta = try await meta.get()
        recorder.record(meta.operators)
        return BlockRef(ref: block, meta: meta)
    }
}

/// Runs the fused stage over each input, keeping up to the context's window of tasks in flight.
final class StageProducer: BlockProducer, @unchecked Sendable {
    enum Inputs {
        case reads([ReadTask])
        case upstream(any BlockProducer)
    }

    private var inputs: Inputs
    private let operations: [StageOperation]
    private let sink: BlockSink?
    private let context: DataContext
    private let recorder: StatsRecorder
    private var nextRead = 0
    private var submitted = 0
    private var inFlight: [(block: ObjectRef<Block>, meta: ObjectRef<BlockMeta>)] = []
    private var exhausted = false
    private var window: Int
    private let holds: TaskResources

    init(inputs: Inputs, operations: [StageOperation], sink: BlockSink?, context: DataContext, recorder: StatsRecorder) {
        self.recorder = recorder
        self.inputs = inputs
        self.operations = operations
        self.sink = sink
        self.context = context
        window = min(2, max(1, context.maxTasksInFlight))
        holds = Self.resources(of: operations, default: context.cpusPerTask)
    }

    /// The most any step asks for (CPUs: the context's default when none asks).
    static func resources(of operations: [StageOperation], default cpus: Double) -> TaskResources {
        let asked = operations.compactMap(\.resources)
        guard !asked.isEmpty else { return TaskResources(numCPUs: cpus) }
        return TaskResources(
            numCPUs: asked.compactMap(\.numCPUs).max() ?? cpus, numGPUs: asked.compactMap(\.numGPUs).max(),
            resources: asked.reduce(into: [:]) { all, next in all.merge(next.resources) { max($0, $1) } })
    }

    func next() async throws -> BlockRef? {
        try await fill()
        guard !inFlight.isEmpty else { return nil }
        let (block, metaRef) = inFlight.removeFirst()
        let meta = try await Self.awaitStage(metaRef, cpus: context.cpusPerTask)
        recorder.record(meta.operators)
        // Slow start: the window doubles per block taken, up to what the budget holds of blocks this size.
        let fits = meta.bytes > 0 ? context.memoryBudget / meta.bytes : context.maxTasksInFlight
        window = max(1, min(window * 2, fits, context.maxTasksInFlight))
        return BlockRef(ref: block, meta: meta)
    }

    /// A stage's report; a warning if it has not come after 10 s, when the likely cause is that
    /// actors (Train workers, say) hold every CPU the stages need, which Ray warns of too.
    private static func awaitStage(_ meta: ObjectRef<BlockMeta>, cpus: Double) async throws -> BlockMeta {
        do {
            return try await ray.get(meta, timeout: .seconds(10))
        } catch is GetTimeoutError {
            Logger(label: "swiftray.data").warning(
                "a dataset stage has not finished in 10 s; if the cluster's CPUs are held by actors (Train workers, say), its tasks (\(cpus) CPU each) cannot start: leave CPUs free or lower DataContext.cpusPerTask")
            return try await meta.get()
        }
    }

    private func fill() async throws {
        while !exhausted, inFlight.count < window {
            let input: StageInput
            switch inputs {
            case .reads(let tasks):
                guard nextRead < tasks.count else { exhausted = true; return }
                input = .read(tasks[nextRead])
                nextRead += 1
            case .upstream(let source):
                guard let next = try await source.next() else { exhausted = true; return }
                input = .block(next.ref)
            }
            inFlight.append($dataStage.options(
                numCPUs: holds.numCPUs, numGPUs: holds.numGPUs, resources: holds.resources, maxRetries: context.maxRetries
            ).remote(input, operations, sink, submitted))
            submitted += 1
        }
    }
}

/// Tells the recorder when the run ends (its last block taken, or an error).
final class FinishingProducer: BlockProducer, @unchecked Sendable {
    private let source: any BlockProducer
    private let recorder: StatsRecorder
    private var done = false

    init(_ source: any BlockProducer, recorder: StatsRecorder) {
        self.source = source
        self.recorder = recorder
    }

    func next() async throws -> BlockRef? {
        do {
            if let next = try await source.next() { return next }
        } catch {
            end(error)
            throw error
        }
        end()
        return nil
    }

    /// A consumer that stops early (`take`, a loop left) ends the run too.
    deinit { end() }

    private func end(_ error: (any Error)? = nil) {
        if !done { recorder.finish(error: error) }
        done = true
    }
}

/// Blocks already made.
final class ListProducer: BlockProducer, @unchecked Sendable {
    private var refs: [BlockRef]
    init(_ refs: [BlockRef]) { self.refs = refs.reversed() }
    func next() async throws -> BlockRef? { refs.popLast() }
}

/// The first `count` rows.
final class LimitProducer: BlockProducer, @unchecked Sendable {
    private let source: any BlockProducer
    private var left: Int

    init(_ source: any BlockProducer, count: Int) {
        self.source = source
        left = count
    }

    func next() async throws -> BlockRef? {
        guard left > 0, let next = try await source.next() else { return nil }
        guard next.meta.rows > left else {
            left -= next.meta.rows
            return next
        }
        let (block, meta) = $dataStage.remote(.block(next.ref), [.limit(left)], nil, 0)
        left = 0
        return BlockRef(ref: block, meta: try await meta.get())
    }
}

/// Several plans' blocks one after the other.
final class UnionProducer: BlockProducer, @unchecked Sendable {
    private var sources: [any BlockProducer]
    init(_ sources: [any BlockProducer]) { self.sources = sources.reversed() }

    func next() async throws -> BlockRef? {
        while let source = sources.last {
            if let next = try await source.next() { return next }
            sources.removeLast()
        }
        return nil
    }
}

/// An all-to-all step's output, computed when first asked.
final class AllToAllProducer: BlockProducer, @unchecked Sendable {
    private var compute: (() async throws -> [BlockRef])?
    private var results: [BlockRef] = []

    init(_ compute: @escaping () async throws -> [BlockRef]) { self.compute = compute }

    func next() async throws -> BlockRef? {
        if let compute {
            self.compute = nil
            results = try await compute().reversed()
        }
        return results.popLast()
    }
}
