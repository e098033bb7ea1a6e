import Foundation
import RayChaos
import SwiftRay
import XCTest

/// The chaos suite's worker kills (issue 22, item 3): a random worker process SIGKILLed every
/// 100 ms while 10,000 tasks and 2,000 actor calls run on an embedded cluster.
final class WorkerChaosTests: XCTestCase {
    func testEveryResultRightWithAWorkerKilledEvery100Milliseconds() async throws {
        let folder = NSTemporaryDirectory() + "swiftray-chaos-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        do {
            let report = try await ChaosWorkload.run(tasks: 10_000, calls: 2_000, seed: 22, folder: folder)
            print("chaos: \(report)")
            XCTAssertTrue(report.clean, "\(report)")
            XCTAssertEqual(report.tasksRight, 10_000)
            XCTAssertEqual(report.retriedCallsRight, 1_000)
            XCTAssertEqual(report.duplicated, 0)
            XCTAssertGreaterThan(report.kills, 10, "workers were killed throughout")
        } catch {
            try? await ray.shutdown()
            throw error
        }
        try await ray.shutdown()
    }
}
