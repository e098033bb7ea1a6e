import Foundation
import SwiftRay
import SwiftRayData
import SwiftRayTrain

/// The seed's large-scale data processing (one `process_file` task per CSV file) with
/// SwiftRayData: every file read in parallel, transformed, aggregated per file and written out.
enum DataExamples {
    static func etl() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftray-data-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder + "/in", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for file in 1...20 {
            let rows = (0..<5000).map { "\($0),\(file),\(Double($0 % 100) / 4)" }.joined(separator: "\n")
            try ("id,file,price\n" + rows + "\n").write(toFile: "\(folder)/in/file\(file).csv", atomically: true, encoding: .utf8)
        }
        let cleaned = try SwiftRayData.Dataset.readCSV(folder + "/in")
            .withColumn("taxed", col("price") * 1.2)
            .filter(col("price") > 5)
        let perFile = try await cleaned.groupBy("file").aggregate(.count(), .sum("taxed"), .mean("price")).takeAll()
        for row in perFile.prefix(3) { print(row) }
        let written = try await cleaned.writeCSV(folder + "/out")
        print("\(perFile.count) files summarised; \(written.count) cleaned files written")
        print(cleaned.statsSummary())
    }

    /// Ingest into Train: a dataset streamed to two training workers through `streamingSplit`.
    static func ingest() async throws -> TrainResult {
        let points = SwiftRayData.Dataset.range(20_000, blocks: 8)
            .withColumn("x", col("id") % 100 / 100.0)
            .withColumn("y", col("x") * 3 + 1)
        let shards = try await points.streamingSplit(2)
        return try await DataParallelTrainer(
            LineFit.self, scaling: ScalingConfig(numWorkers: 2, resourcesPerWorker: ["CPU": 0.5]),
            datasets: ["points": try TrainDataset(shards: shards)]
        ).fit()
    }
}

/// Fits y = w x + b by gradient descent, each worker on the batches its shard streams, the
/// gradients averaged over the workers every epoch.
struct LineFit: TrainLoop {
    static func train(_ context: TrainContext) async throws {
        let shard = try await context.streamingShard("points", as: DataIterator.self)
        var (w, b) = (0.0, 0.0)
        for epoch in 0..<40 {
            var sums = [0.0, 0.0, 0.0, 0.0]  // dw, db, squared error, rows
            for try await batch in shard.iterBatches(batchSize: 1000) {
                let xs = try batch.column("x").doubles ?? [], ys = try batch.column("y").doubles ?? []
                for (x, y) in zip(xs, ys) {
                    let error = w * x + b - y
                    sums[0] += 2 * error * x
                    sums[1] += 2 * error
                    sums[2] += error * error
                }
                sums[3] += Double(batch.rowCount)
            }
            try await context.allreduce(&sums, op: .sum)
            w -= 0.7 * sums[0] / sums[3]
            b -= 0.7 * sums[1] / sums[3]
            try await context.report(["epoch": Double(epoch), "mse": sums[2] / sums[3], "w": w, "b": b, "rows": sums[3]])
        }
    }
}
