import Foundation
import Logging
import SwiftRay
import SwiftRayCollective
import SwiftRayTune

/// Runs a training loop on `numWorkers` worker actors at once, each on its shard of the data,
/// their gradients averaged over a collective group (Ray's `DataParallelTrainer`). Rank 0's
/// reports reach `fit()` as they happen; its checkpoints are kept (best N and the latest). When a
/// worker dies, every worker is stopped and the group restarts from the latest complete
/// checkpoint, up to `FailureConfig.maxFailures` times.
public struct DataParallelTrainer: Sendable {
    public let loopType: String
    public let config: TrialConfig
    public let scaling: ScalingConfig
    public let run: RunConfig
    public let datasets: [String: TrainDataset]
    /// Where the first attempt starts (Ray's `resume_from_checkpoint`).
    public let resumeFromCheckpoint: Checkpoint?

    static let logger = Logger(label: "swiftray.train")

    public init<Loop: TrainLoop>(
        _ loop: Loop.Type, config: TrialConfig = TrialConfig(), scaling: ScalingConfig = ScalingConfig(),
        run: RunConfig = RunConfig(), datasets: [String: TrainDataset] = [:], resumeFromCheckpoint: Checkpoint? = nil
    ) {
        self.init(
            loopType: _mangledTypeName(Loop.self) ?? "\(Loop.self)", config: config, scaling: scaling, run: run, datasets: datasets,
            resumeFromCheckpoint: resumeFromCheckpoint)
    }

    init(
        loopType: String, config: TrialConfig, scaling: ScalingConfig, run: RunConfig, datasets: [String: TrainDataset],
        resumeFromCheckpoint: Checkpoint?
    ) {
        self.loopType = loopType
        self.config = config
        self.scaling = scaling
        self.run = run
        self.datasets = datasets
        self.resumeFromCheckpoint = resumeFromCheckpoint
    }

    /// Trains to the end and returns the final metrics, kept checkpoints and history.
    /// - Parameter onReport: called with each of rank 0's reports (metrics with
    ///   `training_iteration`) as it arrives.
    /// - Throws: `TrainingFailedError` when the run failed more than `maxFailures` times,
    ///   `TrainError.invalidConfig` for a bad configuration.
    public func fit(onReport: (@Sendable (TrialReport) async -> Void)? = nil) async throws -> TrainResult {
        guard scaling.numWorkers >= 1 else { throw TrainError.invalidConfig("numWorkers \(scaling.numWorkers)") }
        for (name, dataset) in datasets where dataset.shards != nil && dataset.count != scaling.numWorkers {
            throw TrainError.invalidConfig("dataset \(name) has \(dataset.count) shards for \(scaling.numWorkers) workers")
        }
        let folder = run.storagePath.map { "\($0)/\(run.name)" }
        if let folder { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let record = RunRecord(keeper: CheckpointKeeper(config: run.checkpointConfig, folder: folder), folder: folder, onReport: onReport)
        let runID = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        var failures = 0
        while true {
            do {
                try await attempt(group: "train-\(run.name)-\(runID)-\(failures)", from: await record.latest ?? resumeFromCheckpoint, record: record)
                return await record.result(failures: failures)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                failures += 1
                let limit = run.failureConfig.maxFailures
                guard limit < 0 || failures <= limit else {
                    Self.logger.error("train run \(run.name) failed (\(failures) failure(s), maxFailures \(limit)): \(error)")
                    throw TrainingFailedError(reason: "\(error)", result: await record.result(failures: failures))
                }
                let from = await record.latestIteration.map { "checkpoint at iteration \($0)" } ?? "the start"
                Self.logger.warning("train run \(run.name): a worker failed (\(error)); restarting from \(from) (\(failures)/\(limit < 0 ? "∞" : "\(limit)"))")
            }
        }
    }

    /// The newest complete checkpoint a run with a storage path left in `runFolder`
    /// (`<storagePath>/<name>`), to resume a run whose driver stopped:
    /// `resumeFromCheckpoint: DataParallelTrainer.latestCheckpoint(in: folder)`. Partly written
    /// checkpoints are never returned.
    public static func latestCheckpoint(in runFolder: String) -> Checkpoint? {
        CheckpointKeeper.latest(in: runFolder)?.checkpoint
    }

    /// One attempt: reserve the workers' bundles, start a worker in each, run the loop on all of
    /// them, stop them whatever happens.
    private func attempt(group: String, from checkpoint: Checkpoint?, record: RunRecord) async throws {
        let bundle = scaling.bundle
        let placement = try await ray.placementGroup(bundles: Array(repeating: bundle, count: scaling.numWorkers), strategy: scaling.placementStrategy)
        var workers: [TrainWorker] = []
        defer {
            for worker in workers { try? ray.kill(worker) }
            Task { try? await ray.removePlacementGroup(placement) }
        }
        try await placement.ready()
        for index in 0..<scaling.numWorkers {
            workers.append(try await TrainWorker.create(options: ActorOptions(
                numCPUs: bundle["CPU"] ?? 0, numGPUs: bundle["GPU"] ?? 0,
                resources: bundle.filter { $0.key != "CPU" && $0.key != "GPU" },
                schedulingStrategy: .placementGroup(placement, bundleIndex: index))))
        }
        let ranked = try await Self.rankByNode(workers)
        let started = workers
        // A cancelled fit (a Tune trial stopped by its scheduler) stops its workers.
        try await withTaskCancellationHandler {
            try await run(ranked, group: group, from: checkpoint, record: record, started: started)
        } onCancel: {
            for worker in started { try? ray.kill(worker) }
        }
    }

    /// Runs the loop on every ranked worker until all streams end; throws the failure's cause.
    private func run(
        _ ranked: [RankedWorker], group: String, from checkpoint: Checkpoint?,
        record: RunRecord, started: [TrainWorker]
    ) async throws {
        let cause: (any Error)? = await withTaskGroup(of: (any Error)?.self) { tasks in
            for (rank, entry) in ranked.enumerated() {
                let spec = WorkerSpec(
                    loopType: loopType, runName: run.name, group: group, rank: rank, worldSize: ranked.count,
                    localRank: entry.localRank, localWorldSize: entry.localWorldSize, nodeRank: entry.nodeRank,
                    config: config, checkpoint: checkpoint, datasets: datasets)
                let reports = entry.worker.remote.run(spec)
                tasks.addTask {
                    do {
                        for try await ref in reports { try await record.received(try await ref.get()) }
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            // A failure on one worker ends the others' collectives too, so every stream ends; the
            // cause shown is what the failing worker threw, not a neighbour's "link failed", so
            // a link failure alone waits a little for the cause to arrive.
            var failures: [any Error] = []
            var stopper: Task<Void, any Error>?
            while let outcome = await tasks.next() {
                guard let error = outcome else { continue }
                failures.append(error)
                if !Self.isLinkFailure(error) {
                    // The cause itself (a died worker, the loop's own error): stop the rest now.
                    for worker in started { try? ray.kill(worker) }
                } else if stopper == nil {
                    stopper = Task {
                        try await Task.sleep(for: Self.stragglerGrace)
                        for worker in started { try? ray.kill(worker) }
                    }
                }
            }
            stopper?.cancel()
            return failures.first(where: { !Self.isLinkFailure($0) }) ?? failures.first
        }
        if let cause { throw cause }
    }

    /// How long workers may take to stop after another failed before they are killed.
    static let stragglerGrace = Duration.seconds(10)

    /// A worker that failed only because a neighbour's link broke.
    private static func isLinkFailure(_ error: any Error) -> Bool {
        if let error = error as? RayTaskError { return error.errorType == "CollectiveError" }
        return error is CollectiveError
    }

    /// A worker with its place: its rank on its node, its node's worker count, its node's rank.
    typealias RankedWorker = (worker: TrainWorker, localRank: Int, localWorldSize: Int, nodeRank: Int)

    /// Workers in rank order: grouped by node (in the order nodes first appear), with each one's
    /// local rank, its node's worker count and the node's rank.
    private static func rankByNode(_ workers: [TrainWorker]) async throws -> [RankedWorker] {
        var nodes: [String] = []
        var byNode: [String: [TrainWorker]] = [:]
        for worker in workers {
            let node = try await worker.nodeID()
            if byNode[node] == nil { nodes.append(node) }
            byNode[node, default: []].append(worker)
        }
        return nodes.enumerated().flatMap { nodeRank, node in
            byNode[node]!.enumerated().map { ($1, $0, byNode[node]!.count, nodeRank) }
        }
    }
}

/// What a run has received so far: the history, the kept checkpoints, the result files.
actor RunRecord {
    private var keeper: CheckpointKeeper
    private var history: [Metrics] = []
    private(set) var latestIteration: Int?
    private let folder: String?
    private let onReport: (@Sendable (TrialReport) async -> Void)?

    init(keeper: CheckpointKeeper, folder: String?, onReport: (@Sendable (TrialReport) async -> Void)?) {
        self.keeper = keeper
        self.folder = folder
        self.onReport = onReport
    }

    var latest: Checkpoint? { keeper.latest }

    func received(_ report: TrialReport) async throws {
        var metrics = report.metrics
        metrics["training_iteration"] = Double(history.count + 1)
        history.append(metrics)
        if let checkpoint = report.checkpoint {
            try keeper.add(checkpoint, metrics: metrics, iteration: history.count)
            latestIteration = history.count
        }
        if let folder { Self.appendLine(metrics, to: folder + "/result.json") }
        await onReport?(TrialReport(metrics: metrics, checkpoint: report.checkpoint))
    }

    func result(failures: Int) -> TrainResult {
        TrainResult(
            metrics: history.last ?? [:], checkpoint: keeper.latest, bestCheckpoints: keeper.best, metricsHistory: history,
            path: folder, failures: failures)
    }

    private static func appendLine(_ metrics: Metrics, to path: String) {
        guard var line = try? JSONSerialization.data(withJSONObject: metrics.filter { $0.value.isFinite }, options: [.sortedKeys]) else { return }
        line.append(0x0A)
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(line)
            try? handle.close()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: line)
        }
    }
}
