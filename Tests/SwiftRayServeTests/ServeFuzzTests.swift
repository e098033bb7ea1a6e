import Foundation
import RayChaos
import SwiftRay
import SwiftRayServe
import XCTest

/// The Serve proxy's port in the fuzz suite (issue 22, item 4): seeded malformed HTTP (bad framing,
/// oversized headers and paths, unfinished JSON bodies, pipelined requests never read) against a
/// real proxy routing to a real replica, then idle floods; the proxy answers a good request after
/// and its process is back to its descriptors.
final class ServeFuzzTests: XCTestCase {
    override func tearDown() async throws {
        await Serve.shutdown()
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testTheProxysPortTakesFuzzAndKeepsServing() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        let base = try await Serve.start(port: 0, keepAliveTimeout: .seconds(2))
        try await Serve.run(Scaler.bind { try await Scaler.create(factor: 3, options: $0) }, name: "scale", routePrefix: "/scale")
        let port = try XCTUnwrap(URL(string: base)?.port.flatMap { UInt16(exactly: $0) })
        let good = try await ServeTests.send(base + "/scale", body: #"{"x": 2}"#)
        XCTAssertEqual(good.status, 200, good.body)
        let before = try XCTUnwrap(ProcessVitals.of(getpid()))

        var fuzzer = PortFuzzer(port: port, speaks: .http(token: nil), seed: 22)
        fuzzer.paths = ["/", "/scale", "/scale/fail", "/scale/a/b", "/nope", "/-/healthz"]
        let inputs = 10_000
        let target = fuzzer
        let report = await FuzzProtocol.offPool { target.run(inputs, connections: 4) }
        print("serve fuzz: \(report)")
        XCTAssertEqual(report.inputs, inputs)
        XCTAssertLessThan(report.refused, inputs / 100, "\(report)")

        let idle = await FuzzProtocol.offPool {
            ConnectionFloods.idle(port: port, count: 300, preamble: Array("POST /scale HTTP/1.1\r\nContent-Length: 10\r\n".utf8), wait: .seconds(25))
        }
        print("idle flood on the proxy: \(idle)")
        XCTAssertEqual(idle.closed, idle.opened, "\(idle)")

        let after = try await ServeTests.send(base + "/scale", body: #"{"x": 5}"#)
        XCTAssertEqual(after.status, 200, after.body)
        XCTAssertTrue(after.body.contains("15"), after.body)
        let settled = await ProcessVitals.settled(getpid(), to: before, slack: 4)
        let now = try XCTUnwrap(settled, "alive")
        print("proxy process: \(before) before, \(now) after")
        XCTAssertLessThanOrEqual(now.descriptors, before.descriptors + 4)
        XCTAssertLessThan(now.residentBytes, before.residentBytes + (128 << 20))
    }
}
