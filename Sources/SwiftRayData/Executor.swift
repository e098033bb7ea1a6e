import SwiftRay

/// A block in the object store and what its task reported.
struct BlockRef: Sendable {
    var ref: ObjectRef<Block>
    var meta: BlockMeta
}

/// A dataset's logical plan: sources, fused chains of per-block operators, and all-to-all steps.
indirect enum Plan: Sendable {
    case read([ReadTask])
    case blocks([BlockRef])
    case chain(Plan, [BlockOperation])
    case limit(Plan, Int)
    case union([Plan])
    case aggregate(Plan, keys: [String], [Aggregate])
    case sort(Plan, [SortKey])

    /// The plan with `operation` fused onto its last chain.
    func adding(_ operation: BlockOperation) -> Plan {
        if case .chain(let input, let operations) = self { return .chain(input, operations + [operation]) }
        return .chain(self, [operation])
    }
}

/// Produces a plan's blocks in order, one at a time, running at most `window` tasks ahead of the
/// consumer: nothing more is started until the consumer takes a block, so memory stays bounded by
/// the window, not the dataset.
protocol BlockProducer: AnyObject {
    func next() async throws -> BlockRef?
}

enum Executor {
    /// A producer of `plan`'s blocks, writing each to `sink` if given.
    static func producer(_ plan: Plan, sink: BlockSink? = nil, context: DataContext) -> any BlockProducer {
        switch plan {
        case .read(let tasks):
            return StageProducer(inputs: .reads(tasks), operations: [], sink: sink, context: context)
        case .chain(.read(let tasks), let operations):
            return StageProducer(inputs: .reads(tasks), operations: operations, sink: sink, context: context)
        case .chain(let input, let operations):
            return StageProducer(inputs: .upstream(producer(input, context: context)), operations: operations, sink: sink, context: context)
        case .blocks(let refs) where sink == nil:
            return ListProducer(refs)
        case .blocks(let refs):
            return StageProducer(inputs: .upstream(ListProducer(refs)), operations: [], sink: sink, context: context)
        case .limit(let input, let count):
            let limited = LimitProducer(producer(input, context: context), count: count)
            return sink == nil ? limited : StageProducer(inputs: .upstream(limited), operations: [], sink: sink, context: context)
        case .union(let plans):
            let joined = UnionProducer(plans.map { producer($0, context: context) })
            return sink == nil ? joined : StageProducer(inputs: .upstream(joined), operations: [], sink: sink, context: context)
        case .aggregate(let input, let keys, let aggregates):
            let all = AllToAllProducer { try await aggregate(input, keys: keys, aggregates, context: context) }
            return sink == nil ? all : StageProducer(inputs: .upstream(all), operations: [], sink: sink, context: context)
        case .sort(let input, let keys):
            let all = AllToAllProducer { try await sort(input, keys: keys, context: context) }
            return sink == nil ? all : StageProducer(inputs: .upstream(all), operations: [], sink: sink, context: context)
        }
    }

    /// Every block of `plan`, in order.
    static func collect(_ plan: Plan, sink: BlockSink? = nil, context: DataContext) async throws -> [BlockRef] {
        let source = producer(plan, sink: sink, context: context)
        var refs: [BlockRef] = []
        while let next = try await source.next() { refs.append(next) }
        return refs
    }

    private static func aggregate(_ input: Plan, keys: [String], _ aggregates: [Aggregate], context: DataContext) async throws -> [BlockRef] {
        let partials = try await collect(input.adding(.partialAggregate(keys: keys, aggregates)), context: context)
        let (block, meta) = $dataCombine.remote(partials.map(\.ref), keys, aggregates)
        return [BlockRef(ref: block, meta: try await meta.get())]
    }

    private static func sort(_ input: Plan, keys: [SortKey], context: DataContext) async throws -> [BlockRef] {
        let blocks = try await collect(input, context: context).filter { $0.meta.rows > 0 }
        guard blocks.count > 1 else {
            guard let only = blocks.first else { return [] }
            let (block, meta) = $dataMergeSorted.remote([only.ref], keys)
            return [BlockRef(ref: block, meta: try await meta.get())]
        }
        let samples = try await ray.get(blocks.map { $dataSample.remote($0.ref, keys, 64) }).flatMap { $0 }
            .sorted { SortKey.less($0, $1, keys) }
        let ranges = blocks.count
        let boundaries = (1..<ranges).compactMap { i in samples.isEmpty ? nil : samples[min(samples.count - 1, i * samples.count / ranges)] }
        let pieces = try await ray.get(blocks.map { $dataPartition.remote($0.ref, keys, boundaries) })
        var sorted: [BlockRef] = []
        for range in 0...boundaries.count {
            let (block, meta) = $dataMergeSorted.remote(pieces.map { $0[range] }, keys)
            sorted.append(BlockRef(ref: block, meta: try await meta.get()))
        }
        return sorted
    }
}

/// Runs the fused stage over each input, keeping up to the context's window of tasks in flight.
final class StageProducer: BlockProducer {
    enum Inputs {
        case reads([ReadTask])
        case upstream(any BlockProducer)
    }

    private var inputs: Inputs
    private let operations: [BlockOperation]
    private let sink: BlockSink?
    private let context: DataContext
    private var nextRead = 0
    private var submitted = 0
    private var inFlight: [(block: ObjectRef<Block>, meta: ObjectRef<BlockMeta>)] = []
    private var exhausted = false
    private var window: Int

    init(inputs: Inputs, operations: [BlockOperation], sink: BlockSink?, context: DataContext) {
        self.inputs = inputs
        self.operations = operations
        self.sink = sink
        self.context = context
        window = context.maxTasksInFlight
    }

    func next() async throws -> BlockRef? {
        try await fill()
        guard !inFlight.isEmpty else { return nil }
        let (block, metaRef) = inFlight.removeFirst()
        let meta = try await metaRef.get()
        // Size the window by the blocks seen: the budget over this block's size.
        if meta.bytes > 0 { window = max(1, min(context.maxTasksInFlight, context.memoryBudget / meta.bytes)) }
        return BlockRef(ref: block, meta: meta)
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
            inFlight.append($dataStage.options(numCPUs: context.cpusPerTask, maxRetries: context.maxRetries).remote(input, operations, sink, submitted))
            submitted += 1
        }
    }
}

/// Blocks already made.
final class ListProducer: BlockProducer {
    private var refs: [BlockRef]
    init(_ refs: [BlockRef]) { self.refs = refs.reversed() }
    func next() async throws -> BlockRef? { refs.popLast() }
}

/// The first `count` rows.
final class LimitProducer: BlockProducer {
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
final class UnionProducer: BlockProducer {
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
final class AllToAllProducer: BlockProducer {
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
