import RayTesting
import SwiftRay
import XCTest

/// A test case with a fresh 2-CPU local cluster (real worker processes) per test.
class RayTestCase: XCTestCase {
    var cpus: Int { 2 }

    override func setUp() async throws {
        try await super.setUp()
        try await Ray.start(numCPUs: cpus, resources: ["accelerator": 1], includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
        try await super.tearDown()
    }

    /// Asserts that `body` throws an error of type `E` and returns it.
    func expectError<E: Error, T>(_ type: E.Type, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> T) async -> E? {
        do {
            let value = try await body()
            XCTFail("expected \(E.self), got \(value)", file: file, line: line)
        } catch let error as E {
            return error
        } catch {
            XCTFail("expected \(E.self), got \(error)", file: file, line: line)
        }
        return nil
    }
}
