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
    /// The journal that continues this snapshot (`experiment_events.<generation>.jsonl`).
    var generation: Int = 0

    static let fileName = "experiment_state.json"

    static func journalName(_ generation: Int) -> String { "experiment_events.\(generation).jsonl" }

    /// Reads the state under the experiment folder `path`: the snapshot, then its journal's
    /// events (a last line cut short by a kill is ignored).
    /// - Throws: `TuneError.cannotRestore` when it is missing or unreadable.
    static func read(_ path: String) throws -> ExperimentState {
        let file = (path as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TuneError.cannotRestore("no \(fileName) under \(path)")
        }
        var state: ExperimentState
        do {
            state = try decoder.decode(ExperimentState.self, from: data)
        } catch {
            throw TuneError.cannotRestore("\(file) is not an experiment's state: \(error)")
        }
        let journal = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(journalName(state.generation))) ?? Data()
        for line in journal.split(separator: UInt8(ascii: "\n")) {
            guard let event = try? decoder.decode(ExperimentEvent.self, from: Data(line)) else { continue }
            state.apply(event)
        }
        return state
    }

    /// Reads what `ExperimentLog` writes (non-finite metrics as strings).
    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    mutating func apply(_ event: ExperimentEvent) {
        switch event {
        case .started(let index, let config):
            while configs.count <= index { configs.append(config) }
            configs[index] = config
            running[index] = running[index] ?? RunningTrial(restore: config.restored, history: [])
            configs[index].restored = nil
        case .checkpointed(let index, let restore, let config, let from, let reports):
            if index < configs.count { configs[index] = config }
            let earlier = running[index]?.history.prefix(from) ?? []
            running[index] = RunningTrial(restore: restore, history: Array(earlier) + reports)
        case .finished(let index, let result):
            running[index] = nil
            finished[index] = result
        }
    }
}

/// One change to an experiment's state, a line of its journal. A checkpoint carries only the
/// reports since the history's first `from` (so a long trial's journal grows with its reports,
/// not their square).
enum ExperimentEvent: Codable, Sendable {
    case started(Int, TrialConfig)
    case checkpointed(Int, RestorePoint, TrialConfig, from: Int, reports: [Metrics])
    case finished(Int, TrialResult)
}

/// Keeps the experiment's state on disk as it runs: each change appended to a journal as one
/// line (one `write`, so a kill leaves whole lines and at most one cut one), and the journal folded
/// into a new snapshot (written to a temporary file and renamed over the old one) once it outgrows
/// it, so writing stays linear in the experiment's size.
actor ExperimentLog {
    private var state: ExperimentState
    private let folder: String?
    private var journal: Int32 = -1
    private var journalBytes = 0
    private var snapshotBytes = 0

    init(state: ExperimentState, folder: String?) {
        self.state = state
        self.folder = folder
    }

    deinit { if journal >= 0 { close(journal) } }

    func started(_ index: Int, _ config: TrialConfig) {
        var plain = config
        plain.placementGroup = nil
        record(.started(index, plain))
    }

    /// Trial `index` (now with `config`: PBT may change it) saved `restore` after `history`.
    func checkpointed(_ index: Int, _ restore: RestorePoint, history: [Metrics], config: TrialConfig) {
        var plain = config
        plain.restored = nil
        plain.placementGroup = nil
        let known = state.running[index]?.history.count ?? 0
        let from = known <= history.count ? known : 0
        record(.checkpointed(index, restore, plain, from: from, reports: Array(history[from...])))
    }

    func finished(_ index: Int, _ result: TrialResult) { record(.finished(index, result)) }

    private func record(_ event: ExperimentEvent) {
        state.apply(event)
        guard let folder else { return }
        do {
            if journal < 0 || journalBytes > max(1 << 20, 2 * snapshotBytes) { try compact(folder) }
            var line = try TrialStorage.encoder.encode(event)
            line.append(UInt8(ascii: "\n"))
            let written = line.withUnsafeBytes { write(journal, $0.baseAddress, $0.count) }
            guard written == line.count else { throw TuneError.cannotRestore("cannot append to the journal: errno \(errno)") }
            journalBytes += line.count
        } catch {
            TrialStorage.complain("cannot write the experiment state under \(folder): \(error)")
        }
    }

    /// Writes the whole state as the next generation's snapshot and starts its empty journal.
    private func compact(_ folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let old = state.generation
        state.generation += 1
        let path = (folder as NSString).appendingPathComponent(ExperimentState.journalName(state.generation))
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard descriptor >= 0 else { throw TuneError.cannotRestore("cannot open \(path): errno \(errno)") }
        let data = try TrialStorage.encoder.encode(state)
        let file = (folder as NSString).appendingPathComponent(ExperimentState.fileName)
        let temporary = file + ".\(getpid()).tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, file) == 0 else {
            close(descriptor)
            throw TuneError.cannotRestore("cannot replace \(file): errno \(errno)")
        }
        if journal >= 0 { close(journal) }
        journal = descriptor
        journalBytes = 0
        snapshotBytes = data.count
        unlink((folder as NSString).appendingPathComponent(ExperimentState.journalName(old)))
    }
}
