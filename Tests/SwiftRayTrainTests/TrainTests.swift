import Foundation
import RayTesting
import SwiftRay
import SwiftRayNN
import SwiftRayTrain
import SwiftRayTune
import XCTest

/// Ray Train's cases on real worker processes: data parallelism that matches one worker, ranks
/// and shards, collective reports, checkpoints kept and written atomically, recovery from a
/// SIGKILLed worker.
final class TrainTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    private func parameters(_ result: TrainResult) throws -> [[Double]] {
        let ordered = result.bestCheckpoints.sorted { ($0.metrics["training_iteration"] ?? 0) < ($1.metrics["training_iteration"] ?? 0) }
        return try ordered.map { try $0.checkpoint.decode([Double].self) }
    }

    func testTwoWorkersMatchOneWorkerOnTheSameGlobalBatchesStepByStep() async throws {
        let config = TrialConfig(["steps": .int(6), "batch": .int(128)])
        let one = try await DataParallelTrainer(ParityLoop.self, config: config, scaling: ScalingConfig(numWorkers: 1)).fit()
        let two = try await DataParallelTrainer(ParityLoop.self, config: config, scaling: ScalingConfig(numWorkers: 2)).fit()
        XCTAssertEqual(two.metricsHistory.map { $0["identical"] }, Array(repeating: 1, count: 6), "ranks hold identical parameters after every step")
        let single = try parameters(one), parallel = try parameters(two)
        XCTAssertEqual(single.count, 6)
        XCTAssertEqual(parallel.count, 6)
        for (step, (a, b)) in zip(single, parallel).enumerated() {
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-9, "step \(step): 2 workers drift \(worst) from 1")
        }
        XCTAssertNotEqual(single[0], single[5], "training moved the parameters")
    }

    func testContextGivesRanksAndContiguousDatasetShards() async throws {
        let numbers = try TrainDataset(Array(0..<1001))
        let result = try await DataParallelTrainer(
            LayoutLoop.self, config: TrialConfig(["lr": .double(0.5)]), scaling: ScalingConfig(numWorkers: 2),
            datasets: ["numbers": numbers]).fit()
        let metrics = result.metrics
        XCTAssertEqual(metrics["world_size"], 2)
        XCTAssertEqual(metrics["lr"], 0.5, "the loop gets its config")
        XCTAssertEqual(metrics["0.rank"], 0)
        XCTAssertEqual(metrics["1.rank"], 1)
        XCTAssertEqual(metrics["0.local_rank"], 0)
        XCTAssertEqual(metrics["1.local_rank"], 1, "both on this node")
        XCTAssertEqual(metrics["1.local_size"], 2)
        XCTAssertEqual(metrics["1.node_rank"], 0)
        XCTAssertEqual(metrics["0.rows"], 501, "the first shard takes the odd row")
        XCTAssertEqual(metrics["1.rows"], 500)
        XCTAssertEqual(metrics["1.first"], 501, "contiguous")
        XCTAssertEqual((metrics["0.sum"] ?? 0) + (metrics["1.sum"] ?? 0), Double((0..<1001).reduce(0, +)), "every row once")
        XCTAssertEqual(metrics["training_iteration"], 1)
    }

    func testReportIsCollectiveAndUnevenReportsFailClearly() async throws {
        let trainer = DataParallelTrainer(UnevenReportsLoop.self, scaling: ScalingConfig(numWorkers: 2))
        do {
            _ = try await trainer.fit()
            XCTFail("uneven reports must fail")
        } catch let error as TrainingFailedError {
            XCTAssertTrue(error.reason.contains("same number of times"), error.reason)
            XCTAssertEqual(error.result.failures, 1)
            XCTAssertEqual(error.result.metricsHistory.count, 1, "the first, shared report arrived")
        }
    }

    func testTheFailingWorkersOwnErrorIsReportedAfterMaxFailures() async throws {
        let trainer = DataParallelTrainer(
            FailingLoop.self, scaling: ScalingConfig(numWorkers: 2), run: RunConfig(failureConfig: FailureConfig(maxFailures: 1)))
        do {
            _ = try await trainer.fit()
            XCTFail("a failing loop must fail the run")
        } catch let error as TrainingFailedError {
            XCTAssertTrue(error.reason.contains("the loss became NaN on rank 0"), "the cause, not a neighbour's broken link: \(error.reason)")
            XCTAssertEqual(error.result.failures, 2, "one restart, then failed")
            XCTAssertEqual(error.result.metricsHistory.count, 2, "one report per attempt")
        }
    }

    func testKilledWorkerRestartsFromTheLatestCheckpointAndReachesTheSameAccuracy() async throws {
        let storage = NSTemporaryDirectory() + "swiftray-train-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let config = TrialConfig(["epochs": .int(4)])
        let reference = try await DataParallelTrainer(ResumableLoop.self, config: config, scaling: ScalingConfig(numWorkers: 2)).fit()

        var hanging = config
        hanging.values["hang_after"] = .int(2)
        let run = RunConfig(name: "resumed", storagePath: storage, failureConfig: FailureConfig(maxFailures: 1))
        let trainer = DataParallelTrainer(ResumableLoop.self, config: hanging, scaling: ScalingConfig(numWorkers: 2), run: run)
        let result = try await trainer.fit { report in
            guard report.metrics["training_iteration"] == 2 else { return }
            // Every worker now waits; SIGKILL one of them.
            let workers = (try? await ray.state.actors().filter { $0.className == "TrainWorker" && $0.state == .alive }) ?? []
            if let pid = workers.compactMap(\.pid).first { kill(pid, SIGKILL) }
        }
        XCTAssertEqual(result.failures, 1, "one restart")
        XCTAssertEqual(result.metricsHistory.map { $0["epoch"] }, [1, 2, 3, 4], "epochs 3 and 4 after the restart, from epoch 2's checkpoint")
        XCTAssertEqual(result.metricsHistory.map { $0["resumed"] }, [0, 0, 1, 1])
        XCTAssertEqual(result.metrics["accuracy"], reference.metrics["accuracy"], "the same accuracy as a run never interrupted")
        XCTAssertGreaterThan(result.metrics["accuracy"] ?? 0, 0.9)

        let folder = storage + "/resumed"
        let entries = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        XCTAssertEqual(entries, ["checkpoint_000001", "checkpoint_000002", "checkpoint_000003", "checkpoint_000004", "result.json"],
                       "complete checkpoints only, no staging folder left")
        let lines = try String(contentsOfFile: folder + "/result.json", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        // A staging folder and a folder without its files (a crash mid-write) are never loaded.
        try FileManager.default.createDirectory(atPath: folder + "/.tmp-checkpoint_000009-1", withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: folder + "/.tmp-checkpoint_000009-1/checkpoint.bin"))
        try FileManager.default.createDirectory(atPath: folder + "/checkpoint_000010", withIntermediateDirectories: true)
        let latest = try XCTUnwrap(DataParallelTrainer.latestCheckpoint(in: folder))
        XCTAssertEqual(try latest.decode(ResumableLoop.State.self).epoch, 4)
        XCTAssertEqual(latest, result.checkpoint)
    }

    func testBestCheckpointsAreKeptByMetricWithTheLatest() async throws {
        let storage = NSTemporaryDirectory() + "swiftray-train-best-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let run = RunConfig(name: "best", storagePath: storage, checkpointConfig: CheckpointConfig(numToKeep: 2, scoreAttribute: "score", scoreOrder: .max))
        let result = try await DataParallelTrainer(
            ResumableLoop.self, config: TrialConfig(["epochs": .int(5)]), scaling: ScalingConfig(numWorkers: 1), run: run).fit()
        // Scores by epoch: 3, 1, 4, 1, 5. Best two: epochs 5 and 3; the latest (5) is among them.
        XCTAssertEqual(result.bestCheckpoints.map { $0.metrics["epoch"] }, [5, 3])
        XCTAssertEqual(result.bestCheckpoints.map { $0.path.map { ($0 as NSString).lastPathComponent } }, ["checkpoint_000005", "checkpoint_000003"])
        let entries = try FileManager.default.contentsOfDirectory(atPath: storage + "/best").sorted()
        XCTAssertEqual(entries, ["checkpoint_000003", "checkpoint_000005", "result.json"], "trimmed checkpoints are deleted")
        XCTAssertEqual(result.metricsHistory.count, 5)
        XCTAssertEqual(result.path, storage + "/best")
    }

    func testBadScalingIsATypedError() async throws {
        do {
            _ = try await DataParallelTrainer(LayoutLoop.self, scaling: ScalingConfig(numWorkers: 0)).fit()
            XCTFail("zero workers accepted")
        } catch let error as TrainError {
            XCTAssertEqual(error, .invalidConfig("numWorkers 0"))
        }
        do {
            _ = try await DataParallelTrainer(LayoutLoop.self, scaling: ScalingConfig(numWorkers: 1)).fit()
            XCTFail("a missing dataset must fail")
        } catch let error as TrainingFailedError {
            XCTAssertTrue(error.reason.contains("no dataset named numbers"), error.reason)
        }
    }
}

/// A trainer as a Tune trainable.
final class TrainTuneTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testTunerRunsATrainerPerTrialWithTheTrialsConfig() async throws {
        let trainer = DataParallelTrainer(
            LayoutLoop.self, config: TrialConfig(["lr": .double(9)]), scaling: ScalingConfig(numWorkers: 1),
            datasets: ["numbers": try TrainDataset(Array(0..<10))])
        let results = try await Tuner(trainer, paramSpace: ["lr": .grid([0.1, 0.2, 0.3])]).fit()
        XCTAssertEqual(results.count, 3)
        XCTAssertEqual(results.compactMap(\.error), [], "no trial failed")
        XCTAssertEqual(Set(results.compactMap { $0.metrics?["lr"] }), [0.1, 0.2, 0.3], "each trial's lr reached its loop")
        XCTAssertEqual(results.compactMap { $0.metrics?["0.rows"] }, [10, 10, 10], "each trial's trainer read the dataset")
        let best = try results.bestResult(metric: "lr", mode: .max)
        XCTAssertEqual(best.config["lr"], 0.3)
    }

    func testTuneStopsTrainerTrialsEarly() async throws {
        let trainer = DataParallelTrainer(ResumableLoop.self, config: TrialConfig(["epochs": .int(6)]), scaling: ScalingConfig(numWorkers: 1))
        let results = try await Tuner(
            trainer, paramSpace: ["seed": .grid([1, 2])],
            tuneConfig: TuneConfig(stop: MaximumIterationStopper(maxIterations: 2))).fit()
        XCTAssertEqual(results.map(\.history.count), [2, 2], "stopped after two reports each")
        XCTAssertNotNil(results.first?.checkpoint, "Tune keeps the trainer's checkpoints")
        let gone = await RayTesting.eventually(timeout: .seconds(30)) {
            (try? await ray.state.actors().filter { $0.className == "TrainWorker" && $0.state == .alive }.isEmpty) == true
        }
        XCTAssertTrue(gone, "a stopped trial's workers are stopped")
    }
}
