import CRayShims
import Foundation
import Logging
import RayPlatform
import RayWire
import Synchronization
import ZIPFoundation

/// The entrypoints of submitted jobs that run on this node because their resources were set
/// aside here (a node daemon's side of Ray's job supervisor): each a shell in its own session and
/// folder, its output streamed to the head as it is written, its end reported.
package final class NodeEntrypoints: Sendable {
    private let folder: String
    private let send: @Sendable (ControlMessage) -> Void
    private let running = Mutex<[String: pid_t]>([:])
    private let logger = Logger(label: "swiftray.jobs")

    /// Keeps entrypoints' folders under `folder`; `send` reaches the head.
    package init(folder: String, send: @escaping @Sendable (ControlMessage) -> Void) {
        self.folder = folder
        self.send = send
    }

    /// Starts an entrypoint; `environment` (the head's address and token as this node knows them,
    /// its id) goes on top of the launch's.
    package func run(_ launch: EntrypointLaunch, environment: [String: String]) {
        let id = launch.jobID
        guard JobManager.isValidID(id) else { return send(.entrypointExited(jobID: id, code: nil, error: "invalid job id \(id)")) }
        let base = "\(folder)/\(id)"
        do {
            let directory = try prepare(base, package: launch.package)
            let variables = ProcessInfo.processInfo.environment.merging(launch.environment) { $1 }.merging(environment) { $1 }
            try? FileManager.default.removeItem(atPath: "\(base).log")
            let pid = try EntrypointProcess.start(
                submissionID: id, command: launch.command, directory: directory, environment: variables, log: "\(base).log", exitFile: "\(base).exit")
            running.withLock { $0[id] = pid }
            logger.info("job \(id) running here (pid \(pid)): \(launch.command)")
            Thread.detachNewThread { self.supervise(id, pid: pid, log: "\(base).log") }
        } catch {
            send(.entrypointExited(jobID: id, code: nil, error: "\(error)"))
        }
    }

    /// Stops an entrypoint: SIGTERM to its process group, SIGKILL after the grace period.
    package func stop(_ id: String) {
        guard let pid = running.withLock({ $0[id] }) else { return }
        EntrypointProcess.signalGroup(pid, SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(2)) {
            if EntrypointProcess.groupAlive(pid) { EntrypointProcess.signalGroup(pid, SIGKILL) }
        }
    }

    /// Kills every entrypoint (the node is going away).
    package func stopAll() {
        for pid in running.withLock({ Array($0.values) }) { EntrypointProcess.signalGroup(pid, SIGKILL) }
    }

    /// A fresh folder for the job, with its working directory unpacked in it; the directory to run in.
    private func prepare(_ base: String, package: [UInt8]?) throws -> String {
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        guard let package else { return base }
        let archive = "\(base).zip"
        do {
            try Data(package).write(to: URL(fileURLWithPath: archive))
            try FileManager.default.unzipItem(at: URL(fileURLWithPath: archive), to: URL(fileURLWithPath: base))
        } catch {
            throw JobError(.badRequest, "the job's working directory cannot be unpacked on this node: \(error)")
        }
        return base
    }

    /// Streams the log to the head until the shell exits, then reports how it ended.
    private func supervise(_ id: String, pid: pid_t, log: String) {
        let fd = open(log, O_RDONLY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        func forward() {
            guard fd >= 0 else { return }
            while true {
                let count = read(fd, &buffer, buffer.count)
                guard count > 0 else { return }
                send(.entrypointOutput(jobID: id, bytes: Array(buffer[..<count])))
            }
        }
        var status: Int32 = 0
        while true {
            forward()
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            usleep(50_000)
        }
        forward()
        running.withLock { $0[id] = nil }
        send(.entrypointExited(jobID: id, code: swiftray_wait_status_code(status), error: nil))
    }
}
