import Foundation

/// Which of a trial's checkpoints are kept (Ray's `CheckpointConfig`).
public struct CheckpointConfig: Sendable {
    /// The best checkpoints kept per trial (nil: all of them). The latest is always kept as well,
    /// wherever it ranks: a restart resumes from it.
    public var numToKeep: Int?
    /// The metric that ranks checkpoints (nil: the newest are the best).
    public var scoreAttribute: String?
    /// Whether a smaller or a larger `scoreAttribute` is better.
    public var scoreOrder: Mode

    public init(numToKeep: Int? = nil, scoreAttribute: String? = nil, scoreOrder: Mode = .max) {
        self.numToKeep = numToKeep.map { max($0, 1) }
        self.scoreAttribute = scoreAttribute
        self.scoreOrder = scoreOrder
    }
}

/// A kept checkpoint: the report it came with, and its folder when the experiment has a
/// storage path (`<storagePath>/<name>/<trial>/checkpoint_<iteration>`).
public struct SavedCheckpoint: Codable, Sendable, Hashable {
    public let checkpoint: Checkpoint
    public let metrics: Metrics
    public let path: String?
}

/// A trial's checkpoints, best first, trimmed to `numToKeep` (the newest always stays); trimmed
/// ones are deleted from storage.
struct KeptCheckpoints {
    let config: CheckpointConfig
    let storage: TrialStorage?
    let trialID: String
    private var saved: [(order: Int, checkpoint: SavedCheckpoint)] = []
    private var count = 0

    init(_ config: CheckpointConfig, storage: TrialStorage?, trialID: String) {
        self.config = config
        self.storage = storage
        self.trialID = trialID
    }

    /// Best first.
    var best: [SavedCheckpoint] { saved.map(\.checkpoint) }

    mutating func add(_ checkpoint: Checkpoint, metrics: Metrics) {
        count += 1
        let path = storage?.saveCheckpoint(trialID, checkpoint, iteration: Int(metrics["training_iteration"] ?? Double(count)))
        saved.append((count, SavedCheckpoint(checkpoint: checkpoint, metrics: metrics, path: path)))
        let ranked = saved.sorted { score($0) > score($1) }
        saved = ranked
        guard let numToKeep = config.numToKeep else { return }
        // Ray's rule: the best `numToKeep`, and the latest wherever it ranks.
        let dropped = saved.enumerated().filter { $0.offset >= numToKeep && $0.element.order != count }
        for entry in dropped { if let path = entry.element.checkpoint.path { storage?.delete(path) } }
        saved = saved.enumerated().filter { $0.offset < numToKeep || $0.element.order == count }.map(\.element)
    }

    /// Larger is better: the metric oriented by its order, else the checkpoint's order.
    private func score(_ entry: (order: Int, checkpoint: SavedCheckpoint)) -> (Double, Int) {
        guard let attribute = config.scoreAttribute else { return (Double(entry.order), entry.order) }
        let value = entry.checkpoint.metrics[attribute] ?? .nan
        let oriented = value.isNaN ? -.infinity : (config.scoreOrder == .max ? value : -value)
        return (oriented, entry.order)
    }
}

/// Writes each trial's files under the experiment's folder, as Ray does: `params.json` (its
/// configuration), `result.json` (one JSON line per report) and its checkpoints.
struct TrialStorage: Sendable {
    let folder: String

    func started(_ trialID: String, _ config: TrialConfig) {
        let object = Self.plain(.nested(config.values))
        write(trialID, "params.json", try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    func reported(_ trialID: String, _ metrics: Metrics) {
        guard let line = Self.json(metrics) else { return }
        let file = trialFolder(trialID) + "/result.json"
        guard let handle = FileHandle(forWritingAtPath: file) else {
            write(trialID, "result.json", line + Data("\n".utf8))
            return
        }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: line + Data("\n".utf8))
    }

    /// Writes the checkpoint to `checkpoint_<iteration>/checkpoint.bin`; returns that folder.
    func saveCheckpoint(_ trialID: String, _ checkpoint: Checkpoint, iteration: Int) -> String? {
        let path = trialFolder(trialID) + "/checkpoint_" + String(format: "%06d", iteration)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try Data(checkpoint.bytes).write(to: URL(fileURLWithPath: path + "/checkpoint.bin"), options: .atomic)
            return path
        } catch {
            Self.complain("cannot write the checkpoint \(path): \(error)")
            return nil
        }
    }

    func delete(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    private func trialFolder(_ trialID: String) -> String { folder + "/" + trialID }

    private func write(_ trialID: String, _ name: String, _ data: Data?) {
        guard let data else { return }
        do {
            try FileManager.default.createDirectory(atPath: trialFolder(trialID), withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: trialFolder(trialID) + "/" + name), options: .atomic)
        } catch {
            Self.complain("cannot write \(name) of \(trialID): \(error)")
        }
    }

    /// Tune's JSON: sorted keys, non-finite metrics as strings (`ExperimentState.decoder` reads them).
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static func json<T: Encodable>(_ value: T) -> Data? { try? encoder.encode(value) }

    /// A value as plain JSON (`{"lr": 0.1}`), as Ray writes `params.json`.
    static func plain(_ value: ParameterValue) -> Any {
        switch value {
        case .double(let number): number.isFinite ? number : "\(number)"
        case .int(let number): number
        case .string(let text): text
        case .bool(let flag): flag
        case .list(let values): values.map(plain)
        case .nested(let values): values.mapValues(plain)
        }
    }

    static func complain(_ message: String) { FileHandle.standardError.write(Data("tune: \(message)\n".utf8)) }
}
