import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RayDashboard
import RayTesting
import SwiftRay
import XCTest

/// The dashboard's page, JSON API and Prometheus endpoint, served by a live cluster.
final class DashboardTests: XCTestCase {
    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testDashboardServesStateAndMetrics() async throws {
        try await Ray.start(numCPUs: 2, dashboardPort: 0)
        let base = try XCTUnwrap(ray.dashboardURL)
        _ = try await ray.get((0..<3).map { $square.remote($0) })
        let counter = try await ray.actor(Counter.self, options: ActorOptions(name: "shown"))
        _ = try await counter.increment()

        let page = try await Self.get(base + "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("swift-ray") && page.body.contains("/api/state"))

        let state = try JSONDecoder().decode(ClusterState.self, from: Data(try await Self.get(base + "/api/state").body.utf8))
        XCTAssertEqual(state.nodes.count, 1)
        XCTAssertEqual(state.actors.first { $0.name == "shown" }?.state, .alive)
        let finished = try JSONDecoder().decode([TaskState].self, from: Data(try await Self.get(base + "/api/tasks?name=square").body.utf8))
        XCTAssertEqual(finished.count, 3)
        XCTAssertTrue(finished.allSatisfy { $0.state == .finished })

        let metrics = try await Self.get(base + "/metrics")
        XCTAssertEqual(metrics.status, 200)
        let samples = Self.prometheusSamples(metrics.body)
        XCTAssertGreaterThanOrEqual(samples["ray_tasks{state=\"FINISHED\"}"] ?? 0, 4)
        XCTAssertEqual(samples["ray_actors{state=\"ALIVE\"}"], 1)
        XCTAssertEqual(samples["ray_nodes_alive"], 1)
        XCTAssertEqual(samples["ray_resources_total{node=\"\(ray.nodeID!)\",resource=\"CPU\"}"], 2)
        XCTAssertGreaterThanOrEqual(samples["ray_scheduling_latency_seconds_count"] ?? 0, 3)
        let timeline = try await Self.get(base + "/api/timeline")
        XCTAssertTrue(timeline.body.contains("\"square\""))
    }

    func testEveryPageLoadsInAHeadlessBrowser() async throws {
        guard try RayTesting.renderedPage("about:blank") != nil else { throw XCTSkip("needs chromium (.ci/run installs it)") }
        try await Ray.start(numCPUs: 2, dashboardPort: 0)
        let base = try XCTUnwrap(ray.dashboardURL)
        let counter = try await ray.actor(Counter.self, options: ActorOptions(name: "browsed"))
        _ = try await counter.increment()
        _ = try await ray.get($square.remote(12))
        let pid = try await counter.pid()
        let shouted = $shout.remote("shown in the logs page")
        _ = try await ray.get(shouted)
        let shoutPID = try await ray.state.tasks().first { $0.taskID == "\(shouted.id)" }?.workerPID ?? 0
        let expectations: [(page: String, shows: [String])] = [
            ("overview", [ray.nodeID!, "nodes-alive\">1"]),
            ("jobs", ["\(getpid())", "RUNNING"]),
            ("tasks", ["square", "FINISHED"]),
            ("actors", ["browsed", "ALIVE", "\(pid)"]),
            ("data", ["No datasets yet"]),
            ("logs=\(shoutPID)", ["actor", "\(pid)", "(shout pid=\(shoutPID)) shown in the logs page"]),
        ]
        for (page, shows) in expectations {
            let (status, output) = try XCTUnwrap(RayTesting.renderedPage("\(base)/#\(page)"))
            XCTAssertEqual(status, 0, output)
            XCTAssertFalse(output.contains("Uncaught"), "script error on \(page): \(output)")
            for text in shows { XCTAssertTrue(output.contains(text), "\(page) should show \(text)") }
        }
    }

    func testDashboardOffLoopbackRequiresTheToken() async throws {
        let dashboard = try await Dashboard.start(host: "0.0.0.0", port: 0, token: "sesame") { ClusterState() }
        let base = "http://127.0.0.1:\(dashboard.port)"
        let refused = try await Self.get(base + "/api/state")
        XCTAssertEqual(refused.status, 401)
        let allowed = try await Self.get(base + "/api/state", headers: ["Authorization": "Bearer sesame"])
        XCTAssertEqual(allowed.status, 200)
        let bearer = try await Self.get(base + "/metrics", headers: ["Authorization": "Bearer sesame"])
        XCTAssertEqual(bearer.status, 200)
        await dashboard.stop()
    }

    func testHeadServesTheDashboardForTheCluster() async throws {
        let cluster = try TestCluster(cpus: 1)
        defer { cluster.shutdown() }
        try cluster.addNode(cpus: 1)
        let base = try XCTUnwrap(cluster.dashboardURL)
        let nodes = try JSONDecoder().decode([NodeState].self, from: Data(try await Self.get(base + "/api/nodes").body.utf8))
        XCTAssertEqual(nodes.count, 2)
        XCTAssertEqual(nodes.filter(\.alive).count, 2)
    }

    static func get(_ url: String, headers: [String: String] = [:]) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: url)!)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// `name{labels} value` lines of Prometheus text, by series.
    static func prometheusSamples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
