import Foundation
import SwiftRay
import SwiftRayTune
import XCTest

/// `quality * (1 - e^(-t/10))` for `iterations` (default 9) iterations, a checkpoint every one.
@Remote func steadyCurve(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        let start = try session.checkpoint?.decode(Int.self) ?? 0
        for step in (start + 1)...(session.config.int("iterations") ?? 9) {
            try await session.report(["accuracy": session.config["quality"] * (1 - exp(-Double(step) / 10))], checkpoint: try Checkpoint(step))
        }
    }
}

/// Adds `lr` to `x` each step (x checkpointed every step); reports `x` and the `lr` in use.
/// Each trial waits at the start line until the whole population is there.
@Remote func populationMember(_ config: TrialConfig, arrivals: Queue<Int>, go: Queue<Int>) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        var x = try session.checkpoint?.decode(Double.self) ?? 0
        if session.checkpoint == nil {
            try await arrivals.put(1)
            _ = try await go.get()
        }
        while session.iteration < 40 {
            x += session.config["lr"]
            try await session.report(["x": x, "lr": session.config["lr"]], checkpoint: try Checkpoint(x))
        }
    }
}

/// A value going up and down, checkpointed every step.
@Remote func bumpyCurve(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        for (step, value) in [1.0, 5, 3, 4, 2, 0].enumerated() {
            try await session.report(["value": value], checkpoint: try Checkpoint(step + 1))
        }
    }
}

/// Runs one task of its own in bundle 1 of its placement group.
@Remote func trialWithHelper(_ config: TrialConfig) async throws -> Metrics {
    guard let group = config.placementGroup else { return ["grouped": 0] }
    let helper = try await ray.get($tuneObjective.options(schedulingStrategy: .placementGroup(group, bundleIndex: 1)).remote(config))
    return ["grouped": 1, "score": helper["score"] ?? .nan]
}

/// HyperBand pausing and resuming trials, PBT copying checkpoints, checkpoint keeping and
/// per-trial placement groups, on a real cluster.
final class PausingTrialTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testHyperBandPausesTrialsAndResumesTheBestFromTheirCheckpoints() async throws {
        // One bracket of 9 (maxT 9, factor 3), two trials at a time: the paused give their slot up.
        let qualities = (1...9).map { ParameterValue.double(Double($0) / 10) }
        let results = try await Tuner(
            $steadyCurve.options(generatorBackpressure: 1).remote, paramSpace: ["quality": .grid(qualities)],
            tuneConfig: TuneConfig(metric: "accuracy", mode: .max, maxConcurrentTrials: 2,
                                   scheduler: HyperBandScheduler(metric: "accuracy", mode: .max, maxT: 9, reductionFactor: 3))
        ).fit()
        XCTAssertTrue(results.errors.isEmpty, "\(results.errors)")
        XCTAssertEqual(results.map(\.history.count), [1, 1, 1, 1, 1, 1, 3, 3, 9], "6 cut at 1, 2 at 3, the best runs to maxT")
        for result in results {
            XCTAssertEqual(result.history.map { $0["training_iteration"] }, (1...result.history.count).map(Double.init),
                           "resumed from its checkpoint, no iteration repeated")
        }
        XCTAssertEqual(try results.bestResult().config["quality"], 0.9)
    }

    func testPBTCopiesABetterTrialsCheckpointAndPerturbsItsConfig() async throws {
        let arrivals = try await Queue<Int>(), go = try await Queue<Int>()
        let starter = Task {
            for _ in 0..<4 { _ = try await arrivals.get() }
            for _ in 0..<4 { try await go.put(1) }
        }
        defer { starter.cancel() }
        let pbt = PopulationBasedTraining(
            metric: "lr", mode: .max, perturbationInterval: 4, hyperparamMutations: ["lr": .domain(.uniform(0, 1))],
            resampleProbability: 0, seed: 3)
        let results = try await Tuner(
            { config in $populationMember.options(numCPUs: 0.25, generatorBackpressure: 1).remote(config, arrivals: arrivals, go: go) },
            paramSpace: ["lr": .grid([0.1, 0.2, 0.3, 0.4])],
            tuneConfig: TuneConfig(metric: "x", mode: .max, maxConcurrentTrials: 4, scheduler: pbt)
        ).fit()
        XCTAssertTrue(results.errors.isEmpty, "\(results.errors)")
        // Every x some trial reported (and checkpointed): where a trial continued from.
        let checkpointed = results.flatMap { $0.history.compactMap { $0["x"] } }
        var copies = 0
        for result in results {
            for (before, after) in zip(result.history, result.history.dropFirst()) {
                guard abs(after["x"]! - before["x"]! - after["lr"]!) > 1e-9 else { continue }
                copies += 1  // x jumped: it continued from another trial's checkpoint
                let start = after["x"]! - after["lr"]!
                XCTAssertTrue(checkpointed.contains { abs($0 - start) < 1e-9 }, "continued from a reported checkpoint: \(start)")
            }
        }
        XCTAssertGreaterThan(copies, 0, "the lowest lr trial copied a better one")
        XCTAssertNotEqual(results[0].config["lr"], 0.1, "the bottom trial explored from a top trial's lr")
    }

    func testTheBestCheckpointsAreKeptAndTrialsWriteTheirFiles() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tune-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let results = try await Tuner(
            $bumpyCurve.remote, paramSpace: ["run": 1],
            tuneConfig: TuneConfig(storagePath: folder, checkpoints: CheckpointConfig(numToKeep: 2, scoreAttribute: "value", scoreOrder: .max)),
            name: "kept"
        ).fit()
        let trial = try XCTUnwrap(results.first)
        XCTAssertEqual(try trial.bestCheckpoints.map { try $0.checkpoint.decode(Int.self) }, [2, 4, 6], "the best two, and the latest")
        XCTAssertEqual(trial.bestCheckpoints.map { $0.metrics["value"] }, [5, 4, 0])
        let trialFolder = folder + "/kept/kept_00000"
        let files = try FileManager.default.contentsOfDirectory(atPath: trialFolder).sorted()
        XCTAssertEqual(files, ["checkpoint_000002", "checkpoint_000004", "checkpoint_000006", "params.json", "result.json"])
        XCTAssertEqual(trial.bestCheckpoints.first?.path, trialFolder + "/checkpoint_000002")
        let saved = try Data(contentsOf: URL(fileURLWithPath: trialFolder + "/checkpoint_000004/checkpoint.bin"))
        XCTAssertEqual(try JSONDecoder().decode(Int.self, from: saved), 4)
        let lines = try String(contentsOfFile: trialFolder + "/result.json", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 6, "one JSON line per report")
        let last = try JSONDecoder().decode([String: Double].self, from: Data(lines[5].utf8))
        XCTAssertEqual(last, ["value": 0, "training_iteration": 6])
        let params = try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: URL(fileURLWithPath: trialFolder + "/params.json")))
        XCTAssertEqual(params, ["run": 1])
    }

    func testEachTrialGetsAPlacementGroupOfItsOwn() async throws {
        // Two one-CPU bundles per trial on a two-CPU node: trials run one at a time, each placing
        // a task of its own in its second bundle.
        let results = try await Tuner(
            $trialWithHelper.remote, paramSpace: ["a": .grid([1, 2, 3]), "b": 0],
            tuneConfig: TuneConfig(resourcesPerTrial: PlacementGroupFactory([["CPU": 1], ["CPU": 1]]))
        ).fit()
        XCTAssertTrue(results.errors.isEmpty, "\(results.errors)")
        XCTAssertEqual(results.map { $0.metrics?["grouped"] }, [1, 1, 1])
        XCTAssertEqual(results.map { $0.metrics?["score"] }, [1, 4, 9], "computed by the helper in bundle 1")
        let groups = try await ray.state.placementGroups()
        XCTAssertEqual(groups.count, 3)
        XCTAssertTrue(groups.allSatisfy { $0.state == "REMOVED" }, "\(groups.map(\.state))")
        let impossible = try await Tuner(
            $trialWithHelper.remote, paramSpace: ["a": 1, "b": 0],
            tuneConfig: TuneConfig(resourcesPerTrial: PlacementGroupFactory([["CPU": 64]]))
        ).fit()
        XCTAssertTrue(impossible[0].error?.contains("TaskUnschedulableError") ?? false, "\(impossible[0])")
    }
}

/// A trainable for restored experiments whose trials all finished: running it is a failure.
@Remote func mustNotRun(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { _ in throw Refused() }
}

extension PausingTrialTests {
    func testTheJournalIsCompactedAndACutLastLineIsIgnored() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tune-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // 200 trials of 100 reports: over a MiB of journal, so it is folded into a new snapshot.
        let results = try await Tuner(
            $learningCurve.remote, paramSpace: ["quality": .uniform(0, 1)],
            tuneConfig: TuneConfig(numSamples: 200, seed: 5, storagePath: folder), name: "journaled"
        ).fit()
        let experiment = folder + "/journaled"
        let snapshot = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: experiment + "/experiment_state.json"))) as? [String: Any]
        let generation = try XCTUnwrap(snapshot?["generation"] as? Int)
        XCTAssertGreaterThan(generation, 1, "compacted at least once")
        let journals = try FileManager.default.contentsOfDirectory(atPath: experiment).filter { $0.hasPrefix("experiment_events.") }
        XCTAssertEqual(journals, ["experiment_events.\(generation).jsonl"], "older journals are removed")
        let journal = try XCTUnwrap(FileHandle(forWritingAtPath: experiment + "/" + journals[0]))
        try journal.seekToEnd()
        try journal.write(contentsOf: Data("{\"finished\":{\"_0\":3,".utf8))  // a write cut short by a kill
        try journal.close()
        let restored = try await Tuner.restore(experiment, trainable: $mustNotRun.remote, paramSpace: ["quality": .uniform(0, 1)],
                                               tuneConfig: TuneConfig(numSamples: 200, seed: 5)).fit()
        XCTAssertTrue(restored.errors.isEmpty, "every trial had finished: none ran again")
        XCTAssertEqual(restored.map(\.history.count), results.map(\.history.count))
        XCTAssertEqual(restored.map { $0.metrics?["accuracy"] }, results.map { $0.metrics?["accuracy"] })
    }
}
