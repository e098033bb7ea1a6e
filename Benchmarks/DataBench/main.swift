import Foundation
import SwiftRay
import SwiftRayData

// The ETL job of Benchmarks/data_compare.sh on an embedded cluster: read every CSV (or, with
// --parquet, Parquet) file in INPUT, add c = a + b, keep c > 1, group by key (sum of c, mean of a,
// count), sort by key, write CSV into OUTPUT.
//   swiftray-data-bench INPUT OUTPUT [--budget-mb N] [--parquet]
// With --ingest, a training loop's ingest instead: read the Parquet files in INPUT once into the
// object store (materialize), then EPOCHS passes of iterBatches(4096) summing column a.
//   swiftray-data-bench --ingest INPUT [EPOCHS]
let arguments = CommandLine.arguments
func seconds(_ d: Duration) -> String { String(format: "%.3f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }
if arguments.count >= 3, arguments[1] == "--ingest" {
    let ray = try await Ray.start(includeDashboard: false)
    let loaded = ContinuousClock.now
    let ds = try await Dataset.readParquet(arguments[2]).materialize()
    print("RESULT swift-ray materialize \(seconds(.now - loaded)) s")
    for epoch in 1...(arguments.count > 3 ? Int(arguments[3]) ?? 3 : 3) {
        let started = ContinuousClock.now
        var total = 0.0, rows = 0
        for try await batch in ds.iterBatches(batchSize: 4096) {
            guard case .double(let a)? = batch["a"]?.storage else { fatalError("no double column a") }
            total += a.withUnsafeBufferPointer { $0.reduce(0, +) }
            rows += batch.rowCount
        }
        print("RESULT swift-ray epoch \(epoch) \(seconds(.now - started)) s (\(rows) rows, sum \(String(format: "%.6e", total)))")
    }
    try await ray.shutdown()
    exit(0)
}
guard arguments.count >= 3 else {
    print("usage: swiftray-data-bench INPUT_FOLDER OUTPUT_FOLDER [--budget-mb N]")
    exit(2)
}
if let flag = arguments.firstIndex(of: "--budget-mb"), flag + 1 < arguments.count, let megabytes = Int(arguments[flag + 1]) {
    var context = DataContext.current
    context.memoryBudget = megabytes << 20
    DataContext.current = context
}
let started = ContinuousClock.now
let ray = try await Ray.start(includeDashboard: false)
let ready = ContinuousClock.now
let source = arguments.contains("--parquet") ? try Dataset.readParquet(arguments[1]) : try Dataset.readCSV(arguments[1])
let job = source
    .withColumn("c", col("a") + col("b"))
    .filter(col("c") > 1.0)
    .groupBy("key").aggregate(.sum("c"), .mean("a"), .count())
    .sort("key")
try await job.writeCSV(arguments[2])
let done = ContinuousClock.now
print(job.statsSummary())
try await ray.shutdown()
print("RESULT swift-ray job \(seconds(done - ready)) s, start \(seconds(ready - started)) s")
