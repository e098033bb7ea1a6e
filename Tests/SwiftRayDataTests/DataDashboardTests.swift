import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RayTesting
import SwiftRay
import SwiftRayData
import XCTest

/// Dataset executions as the dashboard shows them: `/api/data`, the state API, `/metrics`, and
/// the Data page drawn by a headless browser.
final class DataDashboardTests: XCTestCase {
    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testExecutionsAppearWithTheirOperatorsStatesAndErrors() async throws {
        try await Ray.start(numCPUs: 2, dashboardPort: 0)
        let base = try XCTUnwrap(ray.dashboardURL)
        let rows = try await Dataset.range(10_000, blocks: 4).withColumn("twice", col("id") * 2).filter(col("id") % 3 == 0)
            .named("etl").takeAll()
        XCTAssertEqual(rows.count, 3334)
        do {
            _ = try await Dataset.range(100, blocks: 2).mapBatches(BatchSizes(poison: 60)).named("broken").takeAll()
            XCTFail("the poisoned batch fails the run")
        } catch {}

        let etl = try await Self.published(base, name: "etl") { $0.state == "FINISHED" }
        XCTAssertEqual(etl.operators.map(\.name), ["Read", "WithColumn", "Filter"])
        XCTAssertEqual(etl.operators.last?.rows, 3334)
        XCTAssertEqual(etl.operators.first?.tasks, 4)
        XCTAssertEqual(etl.driverPID, getpid())
        XCTAssertNotNil(etl.endedAt)
        let broken = try await Self.published(base, name: "broken") { $0.state == "FAILED" }
        XCTAssertTrue(broken.error?.contains("poisoned batch") ?? false, "\(broken.error ?? "no error")")
        let fromState = try await ray.state.datasets()
        XCTAssertTrue(fromState.contains { $0.datasetID == etl.datasetID })

        let metrics = try await Self.get(base + "/metrics")
        XCTAssertTrue(metrics.contains("ray_data_output_rows{dataset=\"\(etl.datasetID)\",operator=\"Filter\"} 3334"), metrics)

        guard let rendered = try RayTesting.renderedPage("\(base)/#data") else { throw XCTSkip("the page needs chromium (.ci/run installs it)") }
        let (status, page) = rendered
        XCTAssertEqual(status, 0, page)
        XCTAssertFalse(page.contains("Uncaught"), page)
        for text in ["etl", "broken", "FINISHED", "FAILED", "WithColumn", "poisoned batch", "3334"] {
            XCTAssertTrue(page.contains(text), "the Data page shows \(text)")
        }
    }

    /// A driver keeps its newest `DatasetStatus.keptPerDriver` executions published, not all.
    func testOldExecutionsAreDropped() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        let runs = DatasetStatus.keptPerDriver + 5
        for i in 0..<runs {
            let count = try await Dataset.range(10, blocks: 1).named("tiny\(i)").count()
            XCTAssertEqual(count, 10)
        }
        let deadline = ContinuousClock.now + .seconds(20)
        var mine: [DatasetStatus] = []
        repeat {
            mine = try await ray.state.datasets().filter { $0.driverPID == getpid() && $0.name.hasPrefix("tiny") }
            if mine.contains(where: { $0.name == "tiny\(runs - 1)" && $0.state == "FINISHED" }), mine.count <= DatasetStatus.keptPerDriver { break }
            try await Task.sleep(for: .milliseconds(50))
        } while ContinuousClock.now < deadline
        XCTAssertLessThanOrEqual(mine.count, DatasetStatus.keptPerDriver)
        XCTAssertTrue(mine.contains { $0.name == "tiny\(runs - 1)" }, "the newest is kept")
        XCTAssertFalse(mine.contains { $0.name == "tiny0" }, "the oldest is gone")
    }

    /// The execution named `name` once `ready` holds (publishing is asynchronous), within 20 s.
    static func published(_ base: String, name: String, until ready: (DatasetStatus) -> Bool) async throws -> DatasetStatus {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let all = try JSONDecoder().decode([DatasetStatus].self, from: Data(try await get(base + "/api/data?name=\(name)").utf8))
            if let found = all.first, ready(found) { return found }
            guard ContinuousClock.now < deadline else { throw NotPublished(name: name, seen: all) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct NotPublished: Error {
        let name: String
        let seen: [DatasetStatus]
    }

    static func get(_ url: String) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: url)!)
        return String(decoding: data, as: UTF8.self)
    }
}
