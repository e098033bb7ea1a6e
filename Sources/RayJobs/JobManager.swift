import Foundation
import Logging
import RayPlatform
import RayWire

/// The head's submitted jobs (Ray's job manager): each entrypoint a supervised process on the
/// head, its record kept on the head's disk (one JSON file per job, replaced atomically) so the
/// records outlive a head restart, its output in a log file that `logs` and `tail` read.
package actor JobManager {
    private let folder: String
    private let baseEnvironment: [String: String]
    private let nodeID: String?
    private var records: [String: JobRecord] = [:]
    /// Jobs being stopped: their end is STOPPED whatever their exit code.
    private var stopping: Set<String> = []
    private let packages: PackageStore
    private let logger = Logger(label: "swiftray.jobs")
    /// Told of every change to a job's record (nil: deleted), e.g. to show jobs in the state API.
    private let observer: (@Sendable (String, JobRecord?) -> Void)?
    private let placement: (any JobPlacement)?
    /// Jobs waiting for their entrypoint resources, and the release of those that hold them.
    private var reserving: [String: Task<Void, Never>] = [:]
    private var releases: [String: @Sendable () async -> Void] = [:]
    /// Jobs whose entrypoints run on other nodes, and those nodes.
    private var remote: [String: String] = [:]
    /// How long a stopped job has after SIGTERM before its process group gets SIGKILL.
    package static let stopGrace: Duration = .seconds(2)

    /// Keeps jobs under `folder`; entrypoints get `environment` (the head's address and token, ...)
    /// on top of this process's. Records left by an earlier head are loaded (from `folder`, and
    /// from `restoring`, the head's state store, for jobs the folder lacks: a head started on
    /// another machine); `observer` hears of each again on `recover()`. A job whose process
    /// still runs is watched again, one that ended while no head watched ends with its exit code
    /// if it wrote one, else FAILED. With a `placement`, a job with entrypoint resources stays
    /// PENDING until they are set aside for it, and runs on the node that holds them.
    package init(
        folder: String, environment: [String: String] = [:], nodeID: String? = nil, placement: (any JobPlacement)? = nil,
        restoring stored: [JobRecord] = [], observer: (@Sendable (String, JobRecord?) -> Void)? = nil
    ) throws {
        self.placement = placement
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        self.folder = folder
        self.nodeID = nodeID
        self.observer = observer
        baseEnvironment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        packages = PackageStore(folder: (folder as NSString).appendingPathComponent("packages"))
        records = Self.load(folder)
        for record in stored where records[record.submissionID] == nil { records[record.submissionID] = record }
    }

    /// Starts watching jobs an earlier head left running (call once after `init`).
    package func recover() {
        for record in records.values { observer?(record.submissionID, record) }
        for record in records.values where !record.status.isTerminal {
            if let pid = record.pid, EntrypointProcess.isRunning(pid, submissionID: record.submissionID) {
                logger.info("job \(record.submissionID) still runs (pid \(pid)); watching it again")
                Task { await self.poll(record.submissionID, pid: pid) }
            } else {
                finish(record.submissionID, exitCode: readExitCode(record.submissionID), recovered: true)
            }
        }
    }

    // MARK: The API

    /// Starts a job. Its id is the request's `submission_id` (or a new `raysubmit_...` one).
    /// - Throws: `JobError.badRequest` for an empty entrypoint, a malformed or duplicate id.
    package func submit(_ request: JobSubmitRequest) throws -> JobRecord {
        guard !request.entrypoint.trimmingCharacters(in: .whitespaces).isEmpty else { throw JobError(.badRequest, "the entrypoint is empty") }
        let id = request.submissionID ?? request.jobID ?? Self.newSubmissionID()
        guard Self.isValidID(id) else {
            throw JobError(.badRequest, "submission_id '\(id)' may only hold letters, digits, '-', '_' and '.' (at most 128)")
        }
        guard records[id] == nil else {
            throw JobError(.badRequest, "Job with submission_id \(id) already exists. Please use a different submission_id.")
        }
        var record = JobRecord(
            submissionID: id, status: .pending, entrypoint: request.entrypoint, startTime: Date().millisecondsSince1970,
            metadata: request.metadata, runtimeEnv: request.runtimeEnv, driverNodeID: nodeID)
        record.entrypointNumCPUs = request.entrypointNumCPUs
        record.entrypointNumGPUs = request.entrypointNumGPUs
        record.entrypointMemory = request.entrypointMemory
        record.entrypointResources = request.entrypointResources
        try save(record)
        let demand = request.entrypointDemand
        if let placement, !demand.isEmpty {
            reserving[id] = Task { await self.reserveThenLaunch(id, demand, placement) }
        } else {
            launch(record)
        }
        return records[id] ?? record
    }

    package func job(_ id: String) throws -> JobRecord {
        guard let record = records[id] else { throw JobError(.notFound, "Job \(id) does not exist") }
        return record
    }

    /// Every job, oldest first.
    package func list() -> [JobRecord] {
        records.values.sorted { ($0.startTime ?? 0, $0.submissionID) < ($1.startTime ?? 0, $1.submissionID) }
    }

    /// Asks a running job to stop: SIGTERM to its process group, SIGKILL after `stopGrace`.
    /// Returns whether it was running.
    package func stop(_ id: String) throws -> Bool {
        let record = try job(id)
        guard !record.status.isTerminal else { return false }
        stopping.insert(id)
        if let node = remote[id], let placement {
            Task { await placement.stop(jobID: id, on: node) }
            return true
        }
        guard let pid = record.pid else {
            // Still waiting for its entrypoint resources: it never starts.
            reserving.removeValue(forKey: id)?.cancel()
            finish(id, exitCode: nil, recovered: false)
            return true
        }
        EntrypointProcess.signalGroup(pid, SIGTERM)
        Task {
            try? await Task.sleep(for: Self.stopGrace)
            self.forceKill(id, pid: pid)
        }
        return true
    }

    /// Forgets a finished job (record and log).
    /// - Throws: `JobError.badRequest` while it runs.
    package func delete(_ id: String) throws -> Bool {
        let record = try job(id)
        guard record.status.isTerminal else {
            throw JobError(.badRequest, "Attempted to delete job '\(id)', but it is in a non-terminal state \(record.status.rawValue).")
        }
        records[id] = nil
        observer?(id, nil)
        for path in [recordPath(id), logPath(id), exitPath(id)] { try? FileManager.default.removeItem(atPath: path) }
        return true
    }

    /// The job's output so far.
    package func logs(_ id: String) throws -> String {
        _ = try job(id)
        return (try? String(contentsOfFile: logPath(id), encoding: .utf8)) ?? ""
    }

    /// Output from byte `offset` on, where to continue, and whether the job is over (so once
    /// `finished` and nothing new, following can stop).
    package func logs(_ id: String, from offset: Int) throws -> (text: String, next: Int, finished: Bool) {
        let finished = try job(id).status.isTerminal
        guard let handle = FileHandle(forReadingAtPath: logPath(id)) else { return ("", offset, finished) }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(max(offset, 0)))
        let data = (try? handle.readToEnd()) ?? Data()
        // Hand out whole UTF-8 characters only; a split one waits for the next read.
        let end = finished ? data.count : Self.completeUTF8Length(data)
        return (String(decoding: data.prefix(end), as: UTF8.self), offset + end, finished)
    }

    package func hasPackage(scheme: String, name: String) -> Bool { packages.contains(scheme: scheme, name: name) }

    package func storePackage(scheme: String, name: String, bytes: Data) throws { try packages.store(scheme: scheme, name: name, bytes: bytes) }

    /// Stops every running job (the head is going away).
    package func shutdown() async {
        let running = records.values.filter { !$0.status.isTerminal }.map(\.submissionID)
        for id in running { _ = try? stop(id) }
        for id in running {
            for _ in 0..<40 where !(records[id]?.status.isTerminal ?? true) { try? await Task.sleep(for: .milliseconds(100)) }
        }
    }

    // MARK: Running

    private func reserveThenLaunch(_ id: String, _ demand: [String: Double], _ placement: any JobPlacement) async {
        let summary = demand.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        logger.info("job \(id) waits for its entrypoint resources {\(summary)}")
        do {
            let reservation = try await placement.reserve(demand, forJob: id)
            reserving[id] = nil
            guard let record = records[id], record.status == .pending else { return await reservation.release() }
            releases[id] = reservation.release
            if let node = reservation.nodeID { await launch(record, on: node, placement) } else { launch(record) }
        } catch {
            reserving[id] = nil
            guard records[id]?.status == .pending else { return }
            fail(id, type: "JOB_SUPERVISOR_ACTOR_UNSCHEDULABLE", "The job's entrypoint resources {\(summary)} cannot be set aside: \(error)")
        }
    }

    private func launch(_ record: JobRecord) {
        let id = record.submissionID
        do {
            let directory = try workingDirectory(record.runtimeEnv)
            var environment = baseEnvironment
            environment.merge(Self.environmentVariables(record.runtimeEnv)) { $1 }
            environment["SWIFTRAY_JOB_SUBMISSION_ID"] = id
            environment["PYTHONUNBUFFERED"] = environment["PYTHONUNBUFFERED"] ?? "1"
            try? FileManager.default.removeItem(atPath: exitPath(id))
            let pid = try EntrypointProcess.start(
                submissionID: id, command: record.entrypoint, directory: directory, environment: environment, log: logPath(id),
                exitFile: exitPath(id))
            var running = record
            running.status = .running
            running.pid = pid
            try? save(running)
            logger.info("job \(id) running (pid \(pid)): \(record.entrypoint)")
            Thread.detachNewThread { [self] in
                let code = EntrypointProcess.wait(pid)
                Task { await self.finish(id, exitCode: code, recovered: false) }
            }
        } catch {
            fail(id, type: "RUNTIME_ENV_SETUP_FAILURE", "\(error)")
        }
    }

    /// Starts the entrypoint on the node holding its resources.
    private func launch(_ record: JobRecord, on node: String, _ placement: any JobPlacement) async {
        let id = record.submissionID
        do {
            var environment = Self.environmentVariables(record.runtimeEnv)
            environment["SWIFTRAY_JOB_SUBMISSION_ID"] = id
            environment["PYTHONUNBUFFERED"] = environment["PYTHONUNBUFFERED"] ?? "1"
            let launch = EntrypointLaunch(jobID: id, command: record.entrypoint, environment: environment, package: try package(record.runtimeEnv))
            remote[id] = node
            try await placement.run(launch, on: node)
            guard var running = records[id], running.status == .pending else { return }
            running.status = .running
            running.driverNodeID = node
            try? save(running)
            logger.info("job \(id) running on node \(node): \(record.entrypoint)")
        } catch {
            remote[id] = nil
            fail(id, type: "RUNTIME_ENV_SETUP_FAILURE", "\(error)")
        }
    }

    /// Output of an entrypoint running on another node.
    package func remoteOutput(_ id: String, _ bytes: [UInt8]) {
        guard remote[id] != nil, let handle = FileHandle(forWritingAtPath: logPath(id)) ?? createLog(id) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data(bytes))
    }

    /// An entrypoint on another node ended (or could not start: `error`).
    package func remoteExited(_ id: String, code: Int32?, error: String?) {
        guard remote.removeValue(forKey: id) != nil else { return }
        if let error, !stopping.contains(id) { return fail(id, type: "RUNTIME_ENV_SETUP_FAILURE", error) }
        finish(id, exitCode: code, recovered: false)
    }

    /// A node died: the entrypoints it ran are gone with it.
    package func nodeDied(_ node: String) {
        for (id, host) in remote where host == node {
            remote[id] = nil
            if stopping.remove(id) != nil { finish(id, exitCode: nil, recovered: false); continue }
            fail(id, type: "JOB_ENTRYPOINT_COMMAND_ERROR", "The node \(node) running the job's entrypoint died.")
        }
    }

    private func createLog(_ id: String) -> FileHandle? {
        _ = FileManager.default.createFile(atPath: logPath(id), contents: nil, attributes: [.posixPermissions: 0o600])
        return FileHandle(forWritingAtPath: logPath(id))
    }

    /// Ends a job that did not get to run (or lost its node) as FAILED.
    private func fail(_ id: String, type: String, _ message: String) {
        guard var record = records[id], !record.status.isTerminal else { return }
        record.status = .failed
        record.errorType = type
        record.message = message
        record.endTime = Date().millisecondsSince1970
        try? save(record)
        if let release = releases.removeValue(forKey: id) { Task { await release() } }
        logger.warning("job \(id) failed: \(message)")
    }

    /// Watches a job this head did not start (it cannot `waitpid` for it) until it is gone.
    private func poll(_ id: String, pid: pid_t) async {
        while EntrypointProcess.isRunning(pid, submissionID: id) { try? await Task.sleep(for: .milliseconds(200)) }
        finish(id, exitCode: readExitCode(id), recovered: true)
    }

    private func forceKill(_ id: String, pid: pid_t) {
        if EntrypointProcess.groupAlive(pid) {
            logger.info("job \(id) did not stop within \(Self.stopGrace); killing its processes")
            EntrypointProcess.signalGroup(pid, SIGKILL)
        }
    }

    private func finish(_ id: String, exitCode: Int32?, recovered: Bool) {
        guard var record = records[id], !record.status.isTerminal else { return }
        record.endTime = Date().millisecondsSince1970
        record.driverExitCode = exitCode
        if stopping.remove(id) != nil {
            record.status = .stopped
            record.message = "Job was intentionally stopped."
            if let pid = record.pid { EntrypointProcess.signalGroup(pid, SIGKILL) }  // what ignored SIGTERM
        } else if exitCode == 0 {
            record.status = .succeeded
            record.message = "Job finished successfully."
        } else {
            record.status = .failed
            record.errorType = "JOB_ENTRYPOINT_COMMAND_ERROR"
            record.message = Self.failureMessage(exitCode, recovered: recovered, tail: logTail(id))
        }
        try? save(record)
        if let release = releases.removeValue(forKey: id) { Task { await release() } }
        logger.info("job \(id) \(record.status.rawValue) (exit code \(exitCode.map(String.init) ?? "unknown"))")
    }

    private static func failureMessage(_ code: Int32?, recovered: Bool, tail: String) -> String {
        guard let code else {
            return "The job's process ended while no head watched it (the head restarted); its exit code is unknown."
        }
        let logs = tail.isEmpty ? " No logs available." : ", last available logs (truncated to 20,000 chars):\n" + tail
        return "Job entrypoint command failed with exit code \(code)" + (tail.isEmpty ? "." + logs : logs)
    }

    // MARK: Files

    private func save(_ record: JobRecord) throws {
        records[record.submissionID] = record
        observer?(record.submissionID, record)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try encoder.encode(record).write(to: URL(fileURLWithPath: recordPath(record.submissionID)), options: .atomic)
        } catch {
            logger.error("cannot write job record \(record.submissionID): \(error)")
            throw JobError(.internalError, "cannot write the job's record: \(error)")
        }
    }

    private static func load(_ folder: String) -> [String: JobRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var records: [String: JobRecord] = [:]
        for name in names where name.hasSuffix(".json") {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path), let record = try? JSONDecoder().decode(JobRecord.self, from: data) else {
                Logger(label: "swiftray.jobs").warning("skipping unreadable job record \(path)")
                continue
            }
            records[record.submissionID] = record
        }
        return records
    }

    private func recordPath(_ id: String) -> String { (folder as NSString).appendingPathComponent("\(id).json") }
    private func logPath(_ id: String) -> String { (folder as NSString).appendingPathComponent("\(id).log") }
    private func exitPath(_ id: String) -> String { (folder as NSString).appendingPathComponent("\(id).exit") }

    private func readExitCode(_ id: String) -> Int32? {
        (try? String(contentsOfFile: exitPath(id), encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    private func logTail(_ id: String) -> String {
        guard let data = FileManager.default.contents(atPath: logPath(id)) else { return "" }
        return String(decoding: data.suffix(20_000), as: UTF8.self)
    }

    // MARK: Runtime environments

    /// `working_dir`: an uploaded package (`gcs://_ray_pkg_<hash>.zip`, unpacked once) or a
    /// directory on the head; none: the head's own working directory.
    private func workingDirectory(_ runtimeEnv: [String: JSONValue]?) throws -> String {
        guard case .string(let given)? = runtimeEnv?["working_dir"] else { return FileManager.default.currentDirectoryPath }
        if let separator = given.range(of: "://") {
            return try packages.unpacked(scheme: String(given[..<separator.lowerBound]), name: String(given[separator.upperBound...]))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: given, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw JobError(.badRequest, "working_dir \(given) is neither an uploaded package nor a directory on the head")
        }
        return given
    }

    /// The zipped working directory an entrypoint on another node unpacks (an uploaded package), or
    /// nil; a directory on the head cannot go there.
    private func package(_ runtimeEnv: [String: JSONValue]?) throws -> [UInt8]? {
        guard case .string(let given)? = runtimeEnv?["working_dir"] else { return nil }
        guard let separator = given.range(of: "://") else {
            throw JobError(.badRequest, "working_dir \(given) is a directory on the head; a job running on another node needs an uploaded package")
        }
        return try packages.archive(scheme: String(given[..<separator.lowerBound]), name: String(given[separator.upperBound...]))
    }

    /// `env_vars`: strings as given, other JSON values as their JSON text.
    private static func environmentVariables(_ runtimeEnv: [String: JSONValue]?) -> [String: String] {
        guard case .object(let variables)? = runtimeEnv?["env_vars"] else { return [:] }
        return variables.mapValues { value in
            if case .string(let text) = value { return text }
            return (try? String(decoding: JSONEncoder().encode(value), as: UTF8.self)) ?? ""
        }
    }

    /// How many leading bytes of `data` end on a character boundary.
    static func completeUTF8Length(_ data: Data) -> Int {
        let tail = [UInt8](data.suffix(4)), base = data.count - tail.count
        for index in stride(from: tail.count - 1, through: 0, by: -1) where tail[index] & 0xC0 != 0x80 {
            let lead = tail[index]
            let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
            return base + index + length <= data.count ? data.count : base + index
        }
        return data.count
    }

    static func newSubmissionID() -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return "raysubmit_" + String((0..<16).map { _ in letters.randomElement()! })
    }

    package static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 128 && id != "." && id != ".."
            && id.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) }
    }
}
