import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RayTesting
import XCTest

/// `swiftray` called as `ray` with KubeRay's command lines (ports 0 where KubeRay uses fixed ones,
/// so tests never collide): a head and a worker started as KubeRay starts them, the head's
/// `/api/gcs_healthz` and both health ports' `/api/local_raylet_healthz` probes, `ray health-check`
/// (and its failure on a dead address), unknown Ray flags warned about and ignored.
final class RayEntryPointTests: XCTestCase {
    private var processes: [Process] = []
    private var folder = ""

    override func setUp() async throws {
        folder = NSTemporaryDirectory() + "swiftray-as-ray-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(folder)/ray", withDestinationPath: RayTesting.siblingExecutable("swiftray"))
    }

    override func tearDown() async throws {
        for process in processes where process.isRunning { process.terminate() }
        for process in processes { process.waitUntilExit() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    private let token = "entry-point-test-token-0123456789"

    /// Starts `ray ARGUMENTS` in the background (as a pod's main process), output to `log`.
    private func launch(_ arguments: [String], log: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(folder)/ray")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["SWIFTRAY_TOKEN": token]) { $1 }
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.append(process)
    }

    private func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func get(_ url: String) async -> (Int, String) {
        guard let (data, response) = try? await URLSession.shared.data(from: URL(string: url)!) else { return (0, "") }
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    func testKubeRaysCommandLinesStartAHeadAndAWorkerWithTheirProbes() async throws {
        let head = "\(folder)/head", worker = "\(folder)/worker"
        try launch([
            "start", "--head", "--block", "--dashboard-host=0.0.0.0", "--metrics-export-port=8080", "--dashboard-agent-listen-port=0",
            "--num-cpus=1", "--memory=2147483648", "--port=0", "--dashboard-port=0", "--temp-dir=\(head)", "--disable-usage-stats",
        ], log: "\(folder)/head.log")
        let up = await RayTesting.eventually(timeout: .seconds(30), every: .milliseconds(50)) {
            self.read("\(head)/dashboard_url") != nil && self.read("\(head)/health_port") != nil && self.read("\(head)/head_address") != nil
        }
        XCTAssertTrue(up, read("\(folder)/head.log") ?? "")
        let address = try XCTUnwrap(read("\(head)/head_address"))
        let dashboard = try XCTUnwrap(read("\(head)/dashboard_url")).replacingOccurrences(of: "0.0.0.0", with: "127.0.0.1")
        let gcs = await get("\(dashboard)/api/gcs_healthz")
        XCTAssertEqual(gcs.0, 200)
        XCTAssertEqual(gcs.1, "success")
        let headHealth = await get("http://127.0.0.1:\(try XCTUnwrap(read("\(head)/health_port")))/api/local_raylet_healthz")
        XCTAssertEqual(headHealth.0, 200)
        XCTAssertEqual(headHealth.1, "success")
        let headLog = read("\(folder)/head.log") ?? ""
        XCTAssertTrue(headLog.contains("ignoring Ray's --metrics-export-port=8080"), headLog)

        let check = try RayTesting.runProcess("\(folder)/ray", ["health-check", "--address", address], environment: ["SWIFTRAY_TOKEN": token])
        XCTAssertEqual(check.status, 0, check.output)
        let dead = try RayTesting.runProcess("\(folder)/ray", ["health-check", "--address", "127.0.0.1:1"], environment: ["SWIFTRAY_TOKEN": token])
        XCTAssertEqual(dead.status, 1, dead.output)

        try launch([
            "start", "--address=\(address)", "--block", "--metrics-export-port=8080", "--dashboard-agent-listen-port=0", "--num-cpus=1",
            "--temp-dir=\(worker)", "--node-ip-address=10.0.0.5", "--a-flag-from-a-newer-ray=1",
        ], log: "\(folder)/worker.log")
        let joined = try await RayTesting.eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            let status = try RayTesting.runProcess("\(self.folder)/ray", ["status", "--address", address], environment: ["SWIFTRAY_TOKEN": self.token])
            return status.output.components(separatedBy: "workers, object store").count - 1 == 2
        }
        XCTAssertTrue(joined, read("\(folder)/worker.log") ?? "")
        let healthPort = await RayTesting.eventually(timeout: .seconds(10)) { self.read("\(worker)/health_port") != nil }
        XCTAssertTrue(healthPort)
        let workerHealth = await get("http://127.0.0.1:\(try XCTUnwrap(read("\(worker)/health_port")))/api/local_raylet_healthz")
        XCTAssertEqual(workerHealth.1, "success")
        XCTAssertTrue((read("\(folder)/worker.log") ?? "").contains("ignoring Ray's --a-flag-from-a-newer-ray=1"))
    }

    /// KubeRay's autoscaler sidecar command becomes `swiftray autoscaler`; outside a pod (no
    /// Kubernetes API to find) it fails with a clear message instead of running blind.
    func testKubeRaysAutoscalerSidecarCommand() throws {
        let run = try RayTesting.runProcess(
            "\(folder)/ray", ["kuberay-autoscaler", "--cluster-name", "swift-ray", "--cluster-namespace", "default", "--logging-format=json"],
            environment: ["SWIFTRAY_TOKEN": token, "KUBERNETES_SERVICE_HOST": ""])
        XCTAssertNotEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("ignoring Ray's --logging-format"), run.output)
        XCTAssertTrue(run.output.contains("not running in a Kubernetes pod"), run.output)
    }
}
