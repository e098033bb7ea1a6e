import Foundation
import SwiftRayTune

/// A kept checkpoint: the report it came with, and its folder when the run has a storage path.
public struct TrainCheckpoint: Sendable, Codable, Equatable {
    public let checkpoint: Checkpoint
    public let metrics: Metrics
    public let path: String?
}

/// What `fit()` returns (Ray's `Result`).
public struct TrainResult: Sendable {
    /// The last report's metrics (with `training_iteration`).
    public var metrics: Metrics
    /// The latest checkpoint.
    public var checkpoint: Checkpoint?
    /// The kept checkpoints, best first by `CheckpointConfig.scoreAttribute` (newest first without one).
    public var bestCheckpoints: [TrainCheckpoint]
    /// Every report, in order, across restarts.
    public var metricsHistory: [Metrics]
    /// The run's folder, when it has a storage path.
    public var path: String?
    /// How many times the run failed and restarted.
    public var failures: Int
}

/// The checkpoints a run keeps: the best `numToKeep` and the latest, each written atomically
/// (a temporary folder renamed into place) when the run has a folder, so a crash mid-write
/// leaves no folder that looks like a checkpoint.
struct CheckpointKeeper {
    let config: CheckpointConfig
    let folder: String?
    private(set) var kept: [(order: Int, entry: TrainCheckpoint)] = []
    private(set) var latest: Checkpoint?
    private var count = 0

    init(config: CheckpointConfig, folder: String?) {
        self.config = config
        self.folder = folder
    }

    var best: [TrainCheckpoint] { kept.map(\.entry) }

    mutating func add(_ checkpoint: Checkpoint, metrics: Metrics, iteration: Int) throws {
        count += 1
        latest = checkpoint
        let path = try folder.map { try Self.write(checkpoint, metrics: metrics, into: "\($0)/checkpoint_\(String(format: "%06d", iteration))") }
        kept.append((count, TrainCheckpoint(checkpoint: checkpoint, metrics: metrics, path: path)))
        let ranked = kept.sorted { score($0) > score($1) }
        kept = ranked
        guard let limit = config.numToKeep else { return }
        let dropped = kept.enumerated().filter { $0.offset >= limit && $0.element.order != count }.map(\.element)
        for entry in dropped { if let path = entry.entry.path { try? FileManager.default.removeItem(atPath: path) } }
        kept.removeAll { entry in dropped.contains { $0.order == entry.order } }
    }

    /// Larger is better: the metric oriented by its order, else the newest.
    private func score(_ entry: (order: Int, entry: TrainCheckpoint)) -> (Double, Int) {
        guard let attribute = config.scoreAttribute else { return (Double(entry.order), entry.order) }
        let value = entry.entry.metrics[attribute] ?? .nan
        return (value.isNaN ? -.infinity : (config.scoreOrder == .max ? value : -value), entry.order)
    }

    /// `checkpoint.bin` and `metrics.json` in `path`, which appears only once both are written.
    static func write(_ checkpoint: Checkpoint, metrics: Metrics, into path: String) throws -> String {
        let files = FileManager.default
        let staging = (path as NSString).deletingLastPathComponent + "/.tmp-" + (path as NSString).lastPathComponent + "-\(getpid())"
        try? files.removeItem(atPath: staging)
        try files.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try Data(checkpoint.bytes).write(to: URL(fileURLWithPath: staging + "/checkpoint.bin"))
        try JSONSerialization.data(withJSONObject: metrics.filter { $0.value.isFinite }, options: [.sortedKeys]).write(to: URL(fileURLWithPath: staging + "/metrics.json"))
        try? files.removeItem(atPath: path)
        guard rename(staging, path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        return path
    }

    /// The newest complete checkpoint under a run's folder: staging folders and folders without
    /// their files (never made by `write`, which renames complete folders into place) are skipped.
    static func latest(in folder: String) -> (checkpoint: Checkpoint, path: String)? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names.filter({ $0.hasPrefix("checkpoint_") }).sorted(by: >) {
            let path = "\(folder)/\(name)"
            if let checkpoint = try? read(path) { return (checkpoint, path) }
        }
        return nil
    }

    /// The checkpoint in a folder `write` made.
    static func read(_ path: String) throws -> Checkpoint {
        Checkpoint(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path + "/checkpoint.bin"))))
    }
}
