import ArgumentParser
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HummingbirdWSClient
import Logging
import NIOSSL
import RayJobs
import RayTransport
import RayWire
import Synchronization
import ZIPFoundation

/// `swiftray job submit|status|logs|stop|list|delete`: Ray's `ray job` CLI over the dashboard's
/// job submission API (the same API Ray's own CLI and `JobSubmissionClient` use).
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Submit a command to run on the cluster's head as a job, follow it, stop it, list jobs.",
        subcommands: [
            JobSubmitCommand.self, JobStatusCommand.self, JobLogsCommand.self, JobStopCommand.self, JobListCommand.self,
            JobDeleteCommand.self,
        ])
}

/// `swiftray job submit [--working-dir DIR] -- COMMAND...`.
struct JobSubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Run COMMAND on the head as a job; without --no-wait, show its output until it ends and exit with its outcome.")

    @Option(help: "The job's id (default: a new raysubmit_... one); a second job with the same id is refused.")
    var submissionId: String?
    @Option(help: "A folder to upload (zipped) and run the command in.")
    var workingDir: String?
    @Option(help: "The runtime environment as JSON (env_vars, working_dir), Ray's --runtime-env-json.")
    var runtimeEnvJson: String?
    @Option(help: "Metadata as a JSON object of strings.")
    var metadataJson: String?
    @Option(help: "CPUs to set aside for the entrypoint while it runs (it waits PENDING until they are free).")
    var entrypointNumCpus: Double?
    @Option(help: "GPUs to set aside for the entrypoint.")
    var entrypointNumGpus: Double?
    @Option(help: "Memory in bytes to set aside for the entrypoint.")
    var entrypointMemory: Int?
    @Option(help: "Custom resources to set aside for the entrypoint, as JSON.")
    var entrypointResources: String?
    @Flag(help: "Return once submitted.")
    var noWait = false
    @OptionGroup var dashboard: DashboardOptions
    @Argument(parsing: .postTerminator, help: "The command (after --).")
    var entrypoint: [String] = []

    func run() async throws {
        guard !entrypoint.isEmpty else { throw ValidationError("give the command after --: swiftray job submit -- ./my-driver") }
        var request = JobSubmitRequest(
            entrypoint: entrypoint.joined(separator: " "), submissionID: submissionId, runtimeEnv: try await runtimeEnvironment(),
            metadata: try metadataJson.map { try JSONDecoder().decode([String: String].self, from: Data($0.utf8)) })
        request.entrypointNumCPUs = entrypointNumCpus
        request.entrypointNumGPUs = entrypointNumGpus
        request.entrypointMemory = entrypointMemory
        request.entrypointResources = try entrypointResources.map { try JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) }
        let reply = try await dashboard.send("POST", path: "/api/jobs/", body: try JSONEncoder().encode(request))
        let id = try JSONDecoder().decode([String: String].self, from: reply)["submission_id"] ?? "?"
        print("Job '\(id)' submitted successfully")
        print("Follow it with `swiftray job logs --follow \(id)`, stop it with `swiftray job stop \(id)`.")
        guard !noWait else { return }
        print("Tailing logs until the job exits (disable with --no-wait):")
        try await JobLogsCommand.follow(id, dashboard: dashboard)
        let record = try await JobStatusCommand.record(id, dashboard: dashboard)
        print("Job '\(id)' \(record.status.rawValue.lowercased())")
        if record.status != .succeeded { throw ExitCode(record.driverExitCode.map { $0 > 0 ? $0 : 1 } ?? 1) }
    }

    /// `--runtime-env-json` with `--working-dir` uploaded as a package (Ray's `gcs://_ray_pkg_<hash>.zip`).
    private func runtimeEnvironment() async throws -> [String: JSONValue]? {
        var environment = try runtimeEnvJson.map { try JSONDecoder().decode([String: JSONValue].self, from: Data($0.utf8)) } ?? [:]
        if let workingDir { environment["working_dir"] = .string(try await upload(workingDir)) }
        return environment.isEmpty ? nil : environment
    }

    private func upload(_ folder: String) async throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--working-dir \(folder) is not a folder")
        }
        let zip = FileManager.default.temporaryDirectory.appendingPathComponent("swiftray-job-\(getpid()).zip")
        defer { try? FileManager.default.removeItem(at: zip) }
        try? FileManager.default.removeItem(at: zip)
        try FileManager.default.zipItem(at: URL(fileURLWithPath: folder), to: zip, shouldKeepParent: false)
        let bytes = try Data(contentsOf: zip)
        let name = "_ray_pkg_" + SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined() + ".zip"
        _ = try await dashboard.send("PUT", path: "/api/packages/gcs/\(name)", body: bytes, contentType: "application/octet-stream")
        return "gcs://\(name)"
    }
}

/// `swiftray job status ID`.
struct JobStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a job's status.")
    @Argument(help: "The submission id.") var id: String
    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        let record = try await Self.record(id, dashboard: dashboard)
        print("Status for job '\(id)': \(record.status.rawValue)")
        if let message = record.message { print("Status message: \(message)") }
    }

    static func record(_ id: String, dashboard: DashboardOptions) async throws -> JobRecord {
        try JSONDecoder().decode(JobRecord.self, from: try await dashboard.send("GET", path: "/api/jobs/\(id)"))
    }
}

/// `swiftray job logs [--follow] ID`.
struct JobLogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a job's output, or follow it until the job ends.")
    @Argument(help: "The submission id.") var id: String
    @Flag(name: [.short, .long], help: "Keep printing output as it comes until the job ends.") var follow = false
    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        if follow { return try await Self.follow(id, dashboard: dashboard) }
        let reply = try await dashboard.send("GET", path: "/api/jobs/\(id)/logs")
        print(try JSONDecoder().decode([String: String].self, from: reply)["logs"] ?? "", terminator: "")
    }

    /// Streams the job's output from the tail websocket until the server closes it (the job ended).
    /// Should the tail not finish (a lost close, or a connection slower than a short job), the
    /// job's status ends the wait and the output the tail did not deliver is fetched and printed.
    static func follow(_ id: String, dashboard: DashboardOptions) async throws {
        _ = try await JobStatusCommand.record(id, dashboard: dashboard)  // a clear 404 first
        fflush(nil)  // what was printed comes before the job's output, written unbuffered
        let printed = PrintedBytes()
        let tailFinished = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                let url = dashboard.baseURL.replacingOccurrences(of: "http", with: "ws", options: .anchored) + "/api/jobs/\(id)/logs/tail"
                var configuration = WebSocketClientConfiguration()
                if let token = dashboard.resolvedToken { configuration.additionalHeaders[.authorization] = "Bearer \(token)" }
                let tls: TLSConfiguration? = url.hasPrefix("wss") ? DashboardOptions.clientTLS() : nil
                try await WebSocketClient.connect(url: url, configuration: configuration, tlsConfiguration: tls, logger: Logger(label: "swiftray.job")) {
                    inbound, _, _ in
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        if case .text(let text) = message { printed.write(text) }
                    }
                }
                return true
            }
            // The tail ends when the server closes it; should that close get lost (seen once: the
            // client sat in CLOSE_WAIT), the job's own status ends the wait 3 s after it ended.
            group.addTask {
                while try await !JobStatusCommand.record(id, dashboard: dashboard).status.isTerminal {
                    try await Task.sleep(for: .seconds(1))
                }
                try await Task.sleep(for: .seconds(3))
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        guard !tailFinished else { return }
        let reply = try await dashboard.send("GET", path: "/api/jobs/\(id)/logs")
        let logs = try JSONDecoder().decode([String: String].self, from: reply)["logs"] ?? ""
        printed.writeRest(of: logs)
    }
}

/// Output printed so far by a follow, so that a fallback fetch prints only the rest.
private final class PrintedBytes: Sendable {
    private let count = Mutex(0)

    func write(_ text: String) {
        count.withLock { count in
            FileHandle.standardOutput.write(Data(text.utf8))
            count += text.utf8.count
        }
    }

    /// Prints what of `logs` (the whole output) was not printed yet.
    func writeRest(of logs: String) {
        count.withLock { count in
            let bytes = Array(logs.utf8)
            guard count < bytes.count else { return }
            FileHandle.standardOutput.write(Data(bytes[count...]))
            count = bytes.count
        }
    }
}

/// `swiftray job stop ID`.
struct JobStopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a running job (SIGTERM to its processes, SIGKILL after 2 s).")
    @Argument(help: "The submission id.") var id: String
    @Flag(help: "Return once asked, not when it stopped.") var noWait = false
    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        let reply = try await dashboard.send("POST", path: "/api/jobs/\(id)/stop")
        let stopped = try JSONDecoder().decode([String: Bool].self, from: reply)["stopped"] ?? false
        guard stopped else { return print("Job '\(id)' was not running") }
        print("Asked job '\(id)' to stop")
        guard !noWait else { return }
        while try await JobStatusCommand.record(id, dashboard: dashboard).status.isTerminal == false {
            try await Task.sleep(for: .milliseconds(100))
        }
        print("Job '\(id)' stopped")
    }
}

/// `swiftray job list`.
struct JobListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List submitted jobs (and connected drivers).")
    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        let rows = try JSONSerialization.jsonObject(with: try await dashboard.send("GET", path: "/api/jobs/")) as? [[String: Any]] ?? []
        print("TYPE        ID                            STATUS      ENTRYPOINT")
        for row in rows {
            let id = row["submission_id"] as? String ?? row["job_id"] as? String ?? "?"
            print("\(pad(row["type"], 11)) \(pad(id, 29)) \(pad(row["status"], 11)) \(row["entrypoint"] as? String ?? "")")
        }
    }

    private func pad(_ value: Any?, _ width: Int) -> String {
        let text = value.map { "\($0)" } ?? ""
        return text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

/// `swiftray job delete ID`.
struct JobDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Forget a finished job (its record and output).")
    @Argument(help: "The submission id.") var id: String
    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        _ = try await dashboard.send("DELETE", path: "/api/jobs/\(id)")
        print("Job '\(id)' deleted")
    }
}

extension DashboardOptions {
    /// TLS for a `wss://` dashboard: the system's roots plus this machine's cluster certificate.
    static func clientTLS() -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        let certificate = ProcessInfo.processInfo.environment[TLSSupport.certificateVariable] ?? ClusterFiles().tlsCertificateFile
        if FileManager.default.fileExists(atPath: certificate) { tls.trustRoots = .file(certificate) }
        return tls
    }
}
