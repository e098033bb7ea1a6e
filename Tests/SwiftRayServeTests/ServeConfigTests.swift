import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RayTesting
import SwiftRay
import SwiftRayServe
import XCTest

struct ScalerArguments: Codable { let factor: Double }

/// Serve configs put over the dashboard's REST API and by `swiftray serve deploy`, deployed by a
/// Serve host (this process) with real replicas, a real proxy and a real dashboard.
final class ServeConfigTests: XCTestCase {
    var dashboard = ""
    var host: Task<Void, any Error>?

    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: true, dashboardPort: 0)
        dashboard = try XCTUnwrap(ray.dashboardURL)
        Serve.register("scaler") { args in
            let factor = try args?.decode(ScalerArguments.self).factor ?? 1
            return Scaler.bind { try await Scaler.create(factor: factor, options: $0) }
        }
        Serve.register("tunable") { _ in Tunable.bind() }
        host = Task { try await Serve.serveConfigs(every: .milliseconds(20)) }
    }

    override func tearDown() async throws {
        host?.cancel()
        _ = await host?.result
        await Serve.shutdown()
        if Ray.isInitialized { try await ray.shutdown() }
    }

    private func rest(_ method: String, _ body: String? = nil) async throws -> Answer {
        try await ServeTests.send(dashboard + "/api/serve/applications/", method: method, body: body)
    }

    private func details() async throws -> [String: Any] {
        let answer = try await rest("GET")
        XCTAssertEqual(answer.status, 200, answer.body)
        return try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] ?? [:]
    }

    private func applicationStatus(_ name: String) async throws -> String? {
        let applications = try await details()["applications"] as? [String: Any]
        return (applications?[name] as? [String: Any])?["status"] as? String
    }

    static let config = """
        {"http_options": {"host": "127.0.0.1", "port": 0},
         "applications": [
           {"name": "scale", "route_prefix": "/scale", "import_path": "scaler", "args": {"factor": 3},
            "deployments": [{"name": "Scaler", "num_replicas": 2}]},
           {"name": "tunable", "route_prefix": "/tunable", "import_path": "tunable",
            "deployments": [{"name": "Tunable", "user_config": {"threshold": THRESHOLD}}]}]}
        """

    func testAConfigPutOverRESTIsDeployedUpdatedInPlaceAndDeleted() async throws {
        let garbage = try await rest("PUT", "{nope")
        XCTAssertEqual(garbage.status, 400, garbage.body)
        let clash = try await rest("PUT", #"{"applications": [{"name": "a", "import_path": "scaler", "route_prefix": "/a"}, {"name": "b", "import_path": "scaler", "route_prefix": "/a"}]}"#)
        XCTAssertEqual(clash.status, 400)
        XCTAssertTrue(clash.body.contains("two applications have the route_prefix"), clash.body)
        let missing = try await rest("PUT", #"{"applications": [{"name": "a"}]}"#)
        XCTAssertEqual(missing.status, 400)
        XCTAssertTrue(missing.body.contains("import_path"), missing.body)

        let put = try await rest("PUT", Self.config.replacingOccurrences(of: "THRESHOLD", with: "4"))
        XCTAssertEqual(put.status, 200, put.body)
        let running = try await RayTesting.eventually(timeout: .seconds(60)) {
            let scale = try await applicationStatus("scale"), tunable = try await applicationStatus("tunable")
            return scale == "RUNNING" && tunable == "RUNNING"
        }
        XCTAssertTrue(running, "both applications deployed")
        let url = await Serve.url
        let proxy = try XCTUnwrap(url)
        XCTAssertFalse(proxy.hasSuffix(":8000"), "the config's http_options (port 0) were used")
        let scaled = try await ServeTests.send(proxy + "/scale", body: #"{"x": 2}"#)
        XCTAssertEqual(try JSONDecoder().decode(Scaled.self, from: Data(scaled.body.utf8)).result, 6, "built with the config's args")
        let replicas = await Serve.status().first { $0.name == "scale" }?.replicas
        XCTAssertEqual(replicas, 2, "num_replicas from the config")
        let before = try JSONDecoder().decode(Judged.self, from: Data(try await ServeTests.send(proxy + "/tunable", method: "GET").body.utf8))
        XCTAssertEqual(before.threshold, 4, "the user_config reached the replica")

        // A new user_config only: the same replica takes it without a restart.
        _ = try await rest("PUT", Self.config.replacingOccurrences(of: "THRESHOLD", with: "9"))
        let reconfigured = await RayTesting.eventually(timeout: .seconds(30)) {
            let answer = try? await ServeTests.send(proxy + "/tunable", method: "GET")
            return answer.flatMap { try? JSONDecoder().decode(Judged.self, from: Data($0.body.utf8)) }?.threshold == 9
        }
        XCTAssertTrue(reconfigured)
        let after = try JSONDecoder().decode(Judged.self, from: Data(try await ServeTests.send(proxy + "/tunable", method: "GET").body.utf8))
        XCTAssertEqual(after.pid, before.pid, "reconfigured in place")

        // Seen from the dashboard: metrics and the REST details.
        let counted = await RayTesting.eventually(timeout: .seconds(30)) {
            let metrics = (try? await ServeTests.send(self.dashboard + "/metrics", method: "GET").body) ?? ""
            return metrics.contains(#"ray_serve_deployment_request_counter_total{application="scale",deployment="Scaler",route="/scale"} 1"#)
                && metrics.contains("ray_serve_deployment_processing_latency_ms_bucket{application=\"scale\"")
        }
        XCTAssertTrue(counted, "the request is counted in /metrics")
        let applications = try await details()["applications"] as? [String: Any]
        let scale = applications?["scale"] as? [String: Any]
        XCTAssertEqual(scale?["route_prefix"] as? String, "/scale")
        XCTAssertEqual(((scale?["deployments"] as? [String: Any])?["Scaler"] as? [String: Any])?["replica_states"] as? [String: Int], ["RUNNING": 2])
        let logPath = await Serve.accessLogPath
        let log = try String(contentsOfFile: try XCTUnwrap(logPath), encoding: .utf8)
        XCTAssertTrue(log.contains("scale POST /scale 200"), log)

        // An unknown builder fails its application only; then DELETE removes everything.
        let ghost = Self.config.replacingOccurrences(of: "THRESHOLD", with: "9").replacingOccurrences(
            of: "\"import_path\": \"tunable\"", with: "\"import_path\": \"tunable\"}, {\"name\": \"ghost\", \"route_prefix\": \"/ghost\", \"import_path\": \"nowhere\"")
        let putGhost = try await rest("PUT", ghost)
        XCTAssertEqual(putGhost.status, 200)
        let failed = try await RayTesting.eventually(timeout: .seconds(30)) { try await applicationStatus("ghost") == "DEPLOY_FAILED" }
        XCTAssertTrue(failed)
        let latest = try await details()
        let message = ((latest["applications"] as? [String: Any])?["ghost"] as? [String: Any])?["message"] as? String
        XCTAssertTrue(message?.contains("no application builder nowhere") == true, message ?? "")
        let deleted = try await rest("DELETE")
        XCTAssertEqual(deleted.status, 200)
        let gone = await RayTesting.eventually(timeout: .seconds(30)) { await Serve.status().isEmpty }
        XCTAssertTrue(gone, "a deleted config deletes its applications")
        let unrouted = try await ServeTests.send(proxy + "/scale", body: #"{"x": 2}"#)
        XCTAssertEqual(unrouted.status, 404)
    }

    func testTheCommandLineDeploysAYAMLConfig() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("serve-config-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let yaml = folder.appendingPathComponent("config.yaml").path
        try """
            http_options:
              port: 0
            applications:
              - name: doubled
                route_prefix: /doubled
                import_path: scaler
                args:
                  factor: 2
            """.write(toFile: yaml, atomically: true, encoding: .utf8)
        let broken = folder.appendingPathComponent("broken.yaml").path
        try "applications:\n  - name: x\n    route_prefix: nope\n    import_path: scaler\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let swiftray = RayTesting.siblingExecutable("swiftray")
        let (refusedStatus, refused) = try RayTesting.runProcess(swiftray, ["serve", "deploy", broken, "--address", dashboard])
        XCTAssertNotEqual(refusedStatus, 0)
        XCTAssertTrue(refused.contains("must start with '/'"), refused)

        let (status, output) = try RayTesting.runProcess(swiftray, ["serve", "deploy", yaml, "--address", dashboard])
        XCTAssertEqual(status, 0, output)
        let served = await RayTesting.eventually(timeout: .seconds(60)) {
            guard let proxy = await Serve.url, let answer = try? await ServeTests.send(proxy + "/doubled", body: #"{"x": 5}"#) else { return false }
            return (try? JSONDecoder().decode(Scaled.self, from: Data(answer.body.utf8)))?.result == 10
        }
        XCTAssertTrue(served, "deployed from the YAML file")
        let (_, shown) = try RayTesting.runProcess(swiftray, ["serve", "status", "--address", dashboard])
        XCTAssertTrue(shown.contains("doubled:") && shown.contains("RUNNING: 1"), shown)
        let (shutdownStatus, _) = try RayTesting.runProcess(swiftray, ["serve", "shutdown", "--address", dashboard])
        XCTAssertEqual(shutdownStatus, 0)
        let gone = await RayTesting.eventually(timeout: .seconds(30)) { await Serve.status().isEmpty }
        XCTAssertTrue(gone)
        let (unreachable, message) = try RayTesting.runProcess(swiftray, ["serve", "status", "--address", "http://127.0.0.1:1"])
        XCTAssertNotEqual(unreachable, 0)
        XCTAssertTrue(message.contains("no dashboard answers at http://127.0.0.1:1"), message)
    }

    func testTheDashboardShowsTheServeTab() async throws {
        let put = try await rest("PUT", #"{"http_options": {"port": 0}, "applications": [{"name": "shown", "route_prefix": "/shown", "import_path": "scaler"}]}"#)
        XCTAssertEqual(put.status, 200, put.body)
        let running = await RayTesting.eventually(timeout: .seconds(60)) { (try? await self.applicationStatus("shown")) == "RUNNING" }
        XCTAssertTrue(running)
        guard let rendered = try RayTesting.renderedPage("\(dashboard)/#serve") else { throw XCTSkip("the page needs chromium (.ci/run installs it)") }
        let (status, page) = rendered
        XCTAssertEqual(status, 0, page)
        XCTAssertFalse(page.contains("Uncaught"), page)
        for text in ["shown", "/shown", "RUNNING", "Scaler", "HEALTHY", "Proxies"] {
            XCTAssertTrue(page.contains(text), "the Serve tab shows \(text)")
        }
    }
}
