import Foundation

/// A trial that was running when the state was written: where it would resume.
struct RunningTrial: Codable, Sendable {
    var restore: RestorePoint?
    /// Its reports up to that checkpoint.
    var history: [Metrics]
}

/// What `Tuner.restore` needs to continue an experiment: the sampling seed, every trial started
/// (its configuration), the finished ones' results, and the running ones' last checkpoints.
struct ExperimentState: Codable, Sendable {
    var name: String
    var seed: UInt64
    var configs: [TrialConfig] = []
    var finished: [Int: TrialResult] = [:]
    var running: [Int: RunningTrial] = [:]

    static let fileName = "experiment_state.json"

    /// Reads the state under the experiment folder `path`.
    /// - Throws: `TuneError.cannotRestore` when it is missing or unreadable.
    static func read(_ path: String) throws -> ExperimentState {
        let file = (path as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TuneError.cannotRestore("no \(fileName) under \(path)")
        }
        do {
            return try JSONDecoder().decode(ExperimentState.self, from: data)
        } catch {
            throw TuneError.cannotRestore("\(file) is not an experiment's state: \(error)")
        }
    }
}

/// Keeps the experiment's state and writes it (atomically: a temporary file renamed over the old
/// one) whenever a trial starts, saves a checkpoint, or ends.
actor ExperimentLog {
    private var state: ExperimentState
    private let folder: String?

    init(state: ExperimentState, folder: String?) {
        self.state = state
        self.folder = folder
    }

    func started(_ index: Int, _ config: TrialConfig) {
        var plain = config
        plain.restored = nil
        while state.configs.count <= index { state.configs.append(plain) }
        state.configs[index] = plain
        state.running[index] = state.running[index] ?? RunningTrial(restore: config.restored, history: [])
        write()
    }

    /// Trial `index` (now with `config`: PBT may change it) saved `restore` after `history`.
    func checkpointed(_ index: Int, _ restore: RestorePoint, history: [Metrics], config: TrialConfig) {
        if index < state.configs.count { state.configs[index] = config }
        state.running[index] = RunningTrial(restore: restore, history: history)
        write()
    }

    func finished(_ index: Int, _ result: TrialResult) {
        state.running[index] = nil
        state.finished[index] = result
        write()
    }

    private func write() {
        guard let folder else { return }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let data = try encoder.encode(state)
            let file = (folder as NSString).appendingPathComponent(ExperimentState.fileName)
            let temporary = file + ".\(getpid()).tmp"
            try data.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, file) == 0 else { throw TuneError.cannotRestore("cannot replace \(file): errno \(errno)") }
        } catch {
            FileHandle.standardError.write(Data("tune: cannot write the experiment state under \(folder): \(error)\n".utf8))
        }
    }
}
