import Distributed
import Logging
import SwiftRay
import Synchronization

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
/// most) and yields results in input order. The pool autoscales between `sizes` (Ray's
/// `ActorPoolStrategy(min_size, max_size)`): it starts at the minimum, adds an actor (one at a
/// time, created in the background so work never waits for it) while every actor is saturated and
/// input remains, releases idle actors once the input is exhausted, and releases all at the end.
final class ActorPoolProducer: BlockProducer, @unchecked Sendable {
    private let upstream: any BlockProducer
    private let function: ShippedFunction
    private let batchSize: Int?
    private let sizes: ClosedRange<Int>
    private let options: ActorOptions
    private let recorder: StatsRecorder
    /// The pool; nil where an actor was released (indices stay stable for `inFlight`).
    private var actors: [BatchMapperActor?] = []
    private var load: [Int] = []
    private var inFlight: [(actor: Int, call: Task<BlockRef, any Error>)] = []
    private var exhausted = false
    private var growing = false
    /// Actors created and set up in the background, not yet in the pool (a late one, after the
    /// pool is released, is killed instead of joining).
    private let arrivals = Arrivals()
    private static let callsPerActor = 2

    init(upstream: any BlockProducer, function: ShippedFunction, batchSize: Int?, sizes: ClosedRange<Int>, options: ActorOptions, recorder: StatsRecorder) {
        self.upstream = upstream
        self.function = function
        self.batchSize = batchSize
        self.sizes = Swift.max(1, sizes.lowerBound)...Swift.max(1, sizes.upperBound)
        self.options = options
        self.recorder = recorder
    }

    deinit { release() }

    func next() async throws -> BlockRef? {
        if actors.isEmpty { try await startMinimum() }
        adoptArrivals()
        while !exhausted, let index = leastBusy(), load[index] < Self.callsPerActor {
            guard let input = try await upstream.next() else { exhausted = true; break }
            load[index] += 1
            let actor = actors[index]!, size = batchSize, function = function
            inFlight.append((index, Task { try await actor.apply(input.ref, function, batchSize: size) }))
        }
        if exhausted { releaseIdle() } else { growIfSaturated() }
        guard !inFlight.isEmpty else {
            release()
            return nil
        }
        let (index, call) = inFlight.removeFirst()
        defer { load[index] -= 1 }
        let result = try await call.value
        recorder.record(result.meta.operators)
        return result
    }

    /// Live actors in the pool.
    var size: Int { actors.lazy.filter { $0 != nil }.count }

    private func leastBusy() -> Int? {
        actors.indices.filter { actors[$0] != nil }.min { load[$0] < load[$1] }
    }

    private func startMinimum() async throws {
        for _ in 0..<sizes.lowerBound { actors.append(try await ray.actor(BatchMapperActor.self, options: options)) }
        load = Array(repeating: 0, count: actors.count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for case let actor? in actors { group.addTask { [function] in try await actor.setUp(function) } }
            try await group.waitForAll()
        }
    }

    /// Every actor busy to its limit and input left: one more actor, if the range allows.
    private func growIfSaturated() {
        guard !growing, size < sizes.upperBound, load.indices.allSatisfy({ actors[$0] == nil || load[$0] >= Self.callsPerActor }) else { return }
        growing = true
        let options = options, function = function, arrivals = arrivals
        Task {
            do {
                let actor = try await ray.actor(BatchMapperActor.self, options: options)
                try await actor.setUp(function)
                if !arrivals.add(actor) { try? ray.kill(actor) }
            } catch {
                // The pool goes on at its size; `growing` stays set so it does not retry in a loop.
                Self.logger.warning("an actor pool could not grow: \(error)")
            }
        }
    }

    private func adoptArrivals() {
        let ready = arrivals.take()
        guard !ready.isEmpty else { return }
        for actor in ready {
            actors.append(actor)
            load.append(0)
        }
        growing = false
    }

    /// Input exhausted: actors with nothing in flight are no longer needed.
    private func releaseIdle() {
        for index in actors.indices where actors[index] != nil && load[index] == 0 {
            try? ray.kill(actors[index]!)
            actors[index] = nil
        }
    }

    private func release() {
        for case let actor? in actors + arrivals.close() { try? ray.kill(actor) }
        actors = actors.map { _ in nil }
    }

    private static let logger = Logger(label: "swiftray.data")
}

/// Actors a pool grew by, waiting to join it (shared with the tasks creating them).
final class Arrivals: Sendable {
    private let state = Mutex<(ready: [BatchMapperActor], closed: Bool)>(([], false))

    /// Adds `actor` unless the pool was released; returns false then (the caller kills it).
    func add(_ actor: BatchMapperActor) -> Bool {
        state.withLock { state in
            if !state.closed { state.ready.append(actor) }
            return !state.closed
        }
    }

    /// The actors waiting, removed.
    func take() -> [BatchMapperActor] {
        state.withLock { state in
            defer { state.ready = [] }
            return state.ready
        }
    }

    /// No more joins; returns the actors still waiting.
    func close() -> [BatchMapperActor] {
        state.withLock { state in
            state.closed = true
            defer { state.ready = [] }
            return state.ready
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
        try mapBatches(mapper, batchSize: batchSize, concurrency: concurrency...concurrency, numCPUs: numCPUs, numGPUs: numGPUs, resources: resources)
    }

    /// Batches through an autoscaling pool of between `concurrency.lowerBound` and
    /// `concurrency.upperBound` actors (Ray's `concurrency=(min, max)`): it grows while every actor
    /// is busy and input remains, and gives actors back as the input runs out.
    public func mapBatches<M: StatefulBatchMapper>(
        _ mapper: M, batchSize: Int? = nil, concurrency: ClosedRange<Int>, numCPUs: Double? = nil, numGPUs: Double? = nil,
        resources: [String: Double] = [:]
    ) throws -> Dataset {
        let options = TaskResources(numCPUs: numCPUs, numGPUs: numGPUs, resources: resources)
        return with(.actorMap(plan, try ShippedFunction(mapper), batchSize: batchSize, concurrency: concurrency, options: options))
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
