import Foundation
import Synchronization
import SwiftRay
import SwiftRayCollective
import SwiftRayTune

/// The training function every worker runs (Ray's `train_loop_per_worker`). The worker process
/// runs the driver's binary, so it finds the type by name: no registration.
///
/// ```swift
/// struct Classifier: TrainLoop {
///     static func train(_ context: TrainContext) async throws {
///         var model = MLP(sizes: [32, 64, 2], seed: 1)
///         for epoch in 0..<5 {
///             // ... gradients on this worker's shard ...
///             try await context.allreduce(&gradients, op: .mean)
///             try await context.report(["loss": loss], checkpoint: try Checkpoint(model))
///         }
///     }
/// }
/// let result = try await DataParallelTrainer(Classifier.self, scaling: ScalingConfig(numWorkers: 2)).fit()
/// ```
public protocol TrainLoop {
    /// One worker's training: the same code on every rank, told apart by `context`.
    static func train(_ context: TrainContext) async throws
}

/// What a worker's training loop sees (Ray's `train.get_context()`, `train.report`,
/// `train.get_checkpoint`, `get_dataset_shard`).
public final class TrainContext: Sendable {
    /// This worker's rank among all workers, and how many there are.
    public let worldRank: Int
    public let worldSize: Int
    /// Its rank among the workers on its node, and how many those are.
    public let localRank: Int
    public let localWorldSize: Int
    /// Its node's rank among the run's nodes.
    public let nodeRank: Int
    /// The loop's configuration (Ray's `train_loop_config`; a Tune trial's hyperparameters).
    public let config: TrialConfig
    /// The checkpoint to resume from: the latest complete one after a restart, else the one the
    /// trainer was given (nil: start fresh).
    public let checkpoint: Checkpoint?
    /// The run's name.
    public let runName: String
    /// The workers' collective group: gradients are averaged over it.
    public let group: CollectiveGroup

    private let datasets: [String: TrainDataset]
    private let reports: AsyncThrowingStream<TrialReport, any Error>.Continuation
    private let reportCount = Mutex(0)

    init(spec: WorkerSpec, group: CollectiveGroup, reports: AsyncThrowingStream<TrialReport, any Error>.Continuation) {
        worldRank = spec.rank
        worldSize = spec.worldSize
        localRank = spec.localRank
        localWorldSize = spec.localWorldSize
        nodeRank = spec.nodeRank
        config = spec.config
        checkpoint = spec.checkpoint
        runName = spec.runName
        datasets = spec.datasets
        self.group = group
        self.reports = reports
    }

    /// Reports metrics, and a checkpoint, for this round (Ray's `train.report`). Every worker
    /// calls it the same number of times (it waits for all of them); rank 0's metrics and
    /// checkpoint are the ones kept.
    /// - Throws: `TrainError.reportsDiffer` when workers report different numbers of times,
    ///   `CollectiveError.memberFailed` when a worker died.
    public func report(_ metrics: Metrics, checkpoint: Checkpoint? = nil) async throws {
        let count = reportCount.withLock { count in
            count += 1
            return count
        }
        try await agree(on: .report, count: count)
        if worldRank == 0 { reports.yield(TrialReport(metrics: metrics, checkpoint: checkpoint)) }
    }

    /// Averages (or sums, …) `buffer` over every worker: the gradient step of data parallelism.
    public func allreduce(_ buffer: inout [Double], op: ReduceOp = .mean) async throws {
        try await group.allreduce(&buffer, op: op)
    }

    /// This worker's contiguous shard of the dataset `name` (Ray's `get_dataset_shard`).
    /// - Throws: `TrainError.noDataset` for a name the trainer was not given.
    public func datasetShard<Row: Codable & Sendable>(_ name: String, as type: Row.Type = Row.self) async throws -> [Row] {
        guard let dataset = datasets[name] else { throw TrainError.noDataset(name, known: datasets.keys.sorted()) }
        guard let ref = dataset.rows else { throw TrainError.invalidConfig("dataset \(name) holds one value per worker: read it with streamingShard") }
        let rows = try await ObjectRef<[Row]>(id: ref.id).get()
        return Array(rows[TrainDataset.shard(count: rows.count, rank: worldRank, worldSize: worldSize)])
    }

    /// This worker's own value of the dataset `name` made with `TrainDataset(shards:)`: with a
    /// SwiftRayData streaming split, the `DataIterator` to read batches from, epoch by epoch.
    /// - Throws: `TrainError.noDataset` for a name the trainer was not given, `.invalidConfig` for
    ///   a dataset of rows.
    public func streamingShard<Shard: Codable & Sendable>(_ name: String, as type: Shard.Type = Shard.self) async throws -> Shard {
        guard let dataset = datasets[name] else { throw TrainError.noDataset(name, known: datasets.keys.sorted()) }
        guard let shards = dataset.shards, worldRank < shards.count else {
            throw TrainError.invalidConfig("dataset \(name) has no value for worker \(worldRank): give TrainDataset(shards:) one per worker")
        }
        return try await ObjectRef<Shard>(id: shards[worldRank].id).get()
    }

    enum Round: Double { case report = 1, finish = 2 }

    /// Checks that every worker is at the same round: the same number of reports, or all done.
    func agree(on round: Round, count: Int) async throws {
        let everyone = try await group.allgather([round.rawValue, Double(count)])
        guard everyone.allSatisfy({ $0 == everyone[0] }) else {
            let seen = everyone.enumerated().map { rank, entry in
                "rank \(rank) " + (entry[0] == Round.finish.rawValue ? "finished after \(Int(entry[1])) reports" : "at report \(Int(entry[1]))")
            }
            throw TrainError.reportsDiffer(seen.joined(separator: ", "))
        }
    }

    var reported: Int { reportCount.withLock { $0 } }
}

/// Why training failed outside the user's own code.
public enum TrainError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Workers called `report` different numbers of times (it is collective).
    case reportsDiffer(String)
    case noDataset(String, known: [String])
    /// The loop's type is not in the worker's binary.
    case loopNotFound(String)
    case invalidConfig(String)

    public var description: String {
        switch self {
        case .reportsDiffer(let detail): "train.report must be called the same number of times on every worker: \(detail)"
        case .noDataset(let name, let known): "no dataset named \(name) (the trainer has \(known))"
        case .loopNotFound(let name): "no TrainLoop type \(name) in this binary"
        case .invalidConfig(let text): "invalid trainer configuration: \(text)"
        }
    }
}

/// A run that failed more often than `FailureConfig.maxFailures` allows (Ray's
/// `TrainingFailedError`): the last failure, and what the run had when it stopped.
public struct TrainingFailedError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public let result: TrainResult

    public var description: String { "training failed after \(result.failures) failure(s): \(reason)" }
}
