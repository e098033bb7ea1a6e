import Distributed
import SwiftRay

/// A batch transform with state set up once per actor (Ray Data's callable class in
/// `map_batches(..., concurrency=n)`): load a model in `setUp`, then every batch the actor is
/// given goes through `callAsFunction`. Stored properties are its configuration (sent as JSON).
public protocol StatefulBatchMapper: Codable, Sendable {
    /// Runs once in each actor before its first batch.
    mutating func setUp() async throws
    func callAsFunction(_ batch: Block) async throws -> Block
}

extension StatefulBatchMapper {
    public mutating func setUp() async throws {}
}

/// One actor of a `mapBatches(_:concurrency:)` pool: holds the set-up mapper and runs blocks
/// through it, storing each result in the object store.
@RayActor
distributed actor BatchMapperActor {
    private var mapper: (any StatefulBatchMapper)?

    /// Sets the mapper up (once; a restarted actor does it again on its first call).
    distributed func setUp(_ function: ShippedFunction) async throws {
        guard mapper == nil else { return }
        var mapper = try function.rebuild(as: (any StatefulBatchMapper).self)
        try await mapper.setUp()
        self.mapper = mapper
    }

    distributed func apply(_ input: ObjectRef<Block>, _ function: ShippedFunction, batchSize: Int?) async throws -> BlockRef {
        try await setUp(function)
        guard let mapper else { throw DataError.invalid("the batch mapper did not set up") }
        let block = try await input.get()
        let started = ContinuousClock.now
        var outputs: [Block] = []
        for batch in block.batches(of: batchSize ?? block.rowCount) { outputs.append(try await mapper(batch)) }
        let result = Block.concat(outputs)
        return BlockRef(ref: try ray.put(result), meta: BlockMeta(result, [OperatorTiming(name: "MapBatches(actors)", result, since: started)]))
    }
}

/// Sends each upstream block to the pool's least busy actor (two calls in flight per actor at
/// most) and yields results in input order.
final class ActorPoolProducer: BlockProducer, @unchecked Sendable {
    private let upstream: any BlockProducer
    private let function: ShippedFunction
    private let batchSize: Int?
    private let size: Int
    private let options: ActorOptions
    private let recorder: StatsRecorder
    private var actors: [BatchMapperActor] = []
    private var load: [Int] = []
    private var inFlight: [(actor: Int, call: Task<BlockRef, any Error>)] = []
    private var exhausted = false

    init(upstream: any BlockProducer, function: ShippedFunction, batchSize: Int?, size: Int, options: ActorOptions, recorder: StatsRecorder) {
        self.upstream = upstream
        self.function = function
        self.batchSize = batchSize
        self.size = max(1, size)
        self.options = options
        self.recorder = recorder
    }

    func next() async throws -> BlockRef? {
        if actors.isEmpty { try await startPool() }
        while !exhausted, inFlight.count < 2 * actors.count {
            guard let input = try await upstream.next() else { exhausted = true; break }
            let index = load.indices.min { load[$0] < load[$1] } ?? 0
            load[index] += 1
            let actor = actors[index], size = batchSize, function = function
            inFlight.append((index, Task { try await actor.apply(input.ref, function, batchSize: size) }))
        }
        guard !inFlight.isEmpty else { return nil }
        let (index, call) = inFlight.removeFirst()
        load[index] -= 1
        let result = try await call.value
        recorder.record(result.meta.operators)
        return result
    }

    private func startPool() async throws {
        for _ in 0..<size { actors.append(try await ray.actor(BatchMapperActor.self, options: options)) }
        load = Array(repeating: 0, count: size)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for actor in actors { group.addTask { [function] in try await actor.setUp(function) } }
            try await group.waitForAll()
        }
    }
}

extension Dataset {
    /// Batches through a pool of `concurrency` actors, each setting `mapper` up once (Ray's
    /// `map_batches(Class, concurrency=n)`): for model inference, where loading is costly. Each
    /// actor holds `numCPUs`/`numGPUs`/`resources`; results keep the input order.
    public func mapBatches<M: StatefulBatchMapper>(
        _ mapper: M, batchSize: Int? = nil, concurrency: Int, numCPUs: Double? = nil, numGPUs: Double? = nil, resources: [String: Double] = [:]
    ) throws -> Dataset {
        let options = TaskResources(numCPUs: numCPUs, numGPUs: numGPUs, resources: resources)
        return Dataset(.actorMap(plan, try ShippedFunction(mapper), batchSize: batchSize, concurrency: concurrency, options: options), context: context)
    }
}

/// What a pool's actors or a stage's tasks hold: Ray's per-call `num_cpus`, `num_gpus`, `resources`.
struct TaskResources: Codable, Sendable, Equatable {
    var numCPUs: Double?
    var numGPUs: Double?
    var resources: [String: Double] = [:]

    /// A pool's actors: restarted when their process dies (3 times), the call then retried.
    var actorOptions: ActorOptions {
        ActorOptions(numCPUs: numCPUs, numGPUs: numGPUs, resources: resources, maxRestarts: 3, maxTaskRetries: 3)
    }
}
