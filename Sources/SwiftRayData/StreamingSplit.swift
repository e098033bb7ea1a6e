import Distributed
import Synchronization
import SwiftRay

/// Runs one dataset's execution and hands its blocks to the consumers of a streaming split, in
/// the order they ask, each block to exactly one of them; an epoch starts when every consumer has
/// finished the one before.
@RayActor
distributed actor SplitCoordinator {
    private var plan: Plan?
    private var context = DataContext()
    private var consumers = 0
    private var epoch = -1
    private var producer: (any BlockProducer)?
    private var finished: Set<Int> = []
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// Consumers' calls interleave at suspension points; the producer serves one at a time.
    private var pulling = false
    private var pullers: [CheckedContinuation<Void, Never>] = []

    distributed func configure(_ plan: Plan, context: DataContext, consumers: Int) {
        self.plan = plan
        self.context = context
        self.consumers = consumers
    }

    /// The next block for consumer `shard` in `epoch`, or nil when the epoch's blocks are all handed out.
    distributed func next(shard: Int, epoch wanted: Int) async throws -> BlockRef? {
        while wanted > epoch {
            if epoch >= 0, finished.count < consumers {
                // Wait for the other consumers to finish the current epoch.
                await withCheckedContinuation { waiting.append($0) }
                continue
            }
            guard let plan else { throw DataError.invalid("streaming split used before it was configured") }
            epoch += 1
            finished = []
            producer = Execution(context: context, recorder: StatsRecorder(), sink: nil).producer(plan)
        }
        guard wanted == epoch, !finished.contains(shard), let producer else { return nil }
        while pulling { await withCheckedContinuation { pullers.append($0) } }
        pulling = true
        let next: BlockRef?
        do {
            next = try await producer.next()
        } catch {
            handOver()
            throw error
        }
        handOver()
        if let next { return next }
        finished.insert(shard)
        if finished.count == consumers {
            let resumed = waiting
            waiting = []
            for continuation in resumed { continuation.resume() }
        }
        return nil
    }
}

extension SplitCoordinator {
    /// Lets the next waiting consumer pull.
    private func handOver() {
        pulling = false
        if !pullers.isEmpty { pullers.removeFirst().resume() }
    }
}

/// One consumer's share of a streaming split (Ray's `DataIterator`): a `Codable` value to send to
/// a task or actor (a Train worker), which iterates it there. Each `iterBlocks`/`iterBatches`/
/// `iterRows` is one epoch; the consumers of a split go through epochs together.
public struct DataIterator: Codable, Sendable {
    let coordinator: SplitCoordinator
    /// This consumer's number in the split.
    public let shard: Int
    private let epochs = EpochCounter()

    init(coordinator: SplitCoordinator, shard: Int) {
        self.coordinator = coordinator
        self.shard = shard
    }

    private enum CodingKeys: String, CodingKey { case coordinator, shard }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        coordinator = try container.decode(SplitCoordinator.self, forKey: .coordinator)
        shard = try container.decode(Int.self, forKey: .shard)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(coordinator, forKey: .coordinator)
        try container.encode(shard, forKey: .shard)
    }

    /// This shard's blocks for the next epoch.
    public func iterBlocks() -> BlockSequence {
        BlockSequence(source: { [coordinator, shard, epoch = epochs.next()] in SplitProducer(coordinator: coordinator, shard: shard, epoch: epoch) }, prefetch: 1)
    }

    /// This shard's rows for the next epoch in batches of `batchSize` (across block boundaries).
    public func iterBatches(batchSize: Int? = 256) -> BatchSequence { BatchSequence(blocks: iterBlocks(), batchSize: batchSize) }

    /// This shard's rows for the next epoch.
    public func iterRows() -> RowSequence { RowSequence(blocks: iterBlocks()) }
}

/// Counts the epochs a `DataIterator` has started in this process.
final class EpochCounter: Sendable {
    private let count = Mutex(0)
    func next() -> Int { count.withLock { value in defer { value += 1 }; return value } }
}

/// Asks the coordinator for one shard's blocks.
final class SplitProducer: BlockProducer, @unchecked Sendable {
    let coordinator: SplitCoordinator
    let shard: Int
    let epoch: Int

    init(coordinator: SplitCoordinator, shard: Int, epoch: Int) {
        self.coordinator = coordinator
        self.shard = shard
        self.epoch = epoch
    }

    func next() async throws -> BlockRef? { try await coordinator.next(shard: shard, epoch: epoch) }
}

extension Dataset {
    /// `count` disjoint shards of the dataset's blocks, streamed to `count` consumers as they ask
    /// (Ray's `streaming_split`): send each `DataIterator` to a task or Train worker and iterate it
    /// there. One execution feeds them all, within the memory budget; each block goes to one
    /// consumer. Epochs: every consumer iterates once per epoch.
    public func streamingSplit(_ count: Int) async throws -> [DataIterator] {
        guard count >= 1 else { throw DataError.invalid("a streaming split needs at least one consumer, not \(count)") }
        let coordinator = try await ray.actor(SplitCoordinator.self, options: ActorOptions(numCPUs: 0))
        try await coordinator.configure(plan, context: context, consumers: count)
        return (0..<count).map { DataIterator(coordinator: coordinator, shard: $0) }
    }
}
