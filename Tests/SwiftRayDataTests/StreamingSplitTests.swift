import Foundation
import SwiftRay
import SwiftRayData
import SwiftRayTrain
import XCTest

/// Every id a shard sees, per epoch.
@Remote func consumeShard(_ shard: DataIterator, _ epochs: Int) async throws -> [[Int64]] {
    var seen: [[Int64]] = []
    for _ in 0..<epochs {
        var ids: [Int64] = []
        for try await batch in shard.iterBatches(batchSize: 64) {
            if case .int64(let values) = try batch.column("id").storage { ids += values }
        }
        seen.append(ids)
    }
    return seen
}

/// Each worker reads its streaming shard for two epochs; rank 0 reports the totals over all
/// workers (rows and the sum of ids) per epoch.
struct StreamingIngestLoop: TrainLoop {
    static func train(_ context: TrainContext) async throws {
        let shard = try await context.streamingShard("train", as: DataIterator.self)
        for epoch in 0..<2 {
            var totals = [0.0, 0.0]
            for try await batch in shard.iterBatches(batchSize: 100) {
                totals[0] += Double(batch.rowCount)
                totals[1] += (try batch.column("id").doubles ?? []).reduce(0, +)
            }
            try await context.allreduce(&totals, op: .sum)
            try await context.report(["epoch": Double(epoch), "rows": totals[0], "idSum": totals[1], "mine": 0])
        }
    }
}

/// A dataset fed to several consumers at once, and to a Train run.
final class StreamingSplitTests: XCTestCase {
    override func setUp() async throws { try await Ray.start(numCPUs: 2, includeDashboard: false) }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testShardsAreDisjointAndCompleteEveryEpoch() async throws {
        let shards = try await Dataset.range(2000, blocks: 20).withColumn("twice", col("id") * 2).streamingSplit(2)
        let seen = try await ray.get(shards.map { $consumeShard.options(numCPUs: 0).remote($0, 2) })
        for epoch in 0..<2 {
            let all = seen.flatMap { $0[epoch] }
            XCTAssertEqual(all.sorted(), Array(0..<2000), "epoch \(epoch): every row once, across the shards")
        }
        XCTAssertFalse(seen[0][0].isEmpty || seen[1][0].isEmpty, "both consumers got blocks")
    }

    func testTrainWorkersIngestThroughAStreamingSplit() async throws {
        // Half a CPU per worker: the dataset's tasks need the rest (on 2 CPUs, two 1-CPU workers
        // would leave the stages none, as in Ray).
        let ds = Dataset.range(1000, blocks: 10)
        let trainer = DataParallelTrainer(
            StreamingIngestLoop.self, scaling: ScalingConfig(numWorkers: 2, resourcesPerWorker: ["CPU": 0.5]),
            datasets: ["train": try TrainDataset(shards: try await ds.streamingSplit(2))])
        let result = try await trainer.fit()
        XCTAssertEqual(result.metricsHistory.map { $0["rows"] }, [1000, 1000])
        XCTAssertEqual(result.metricsHistory.map { $0["idSum"] }, [499_500, 499_500])
        // A split for another number of workers is refused before anything starts.
        let wrong = DataParallelTrainer(
            StreamingIngestLoop.self, scaling: ScalingConfig(numWorkers: 2, resourcesPerWorker: ["CPU": 0.5]),
            datasets: ["train": try TrainDataset(shards: try await ds.streamingSplit(3))])
        do {
            _ = try await wrong.fit()
            XCTFail("3 shards for 2 workers")
        } catch {
            XCTAssertTrue("\(error)".contains("3 shards for 2 workers"), "\(error)")
        }
    }
}
