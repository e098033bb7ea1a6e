import CRayShims
import Foundation
import RayPlatform

/// A job's entrypoint as a process: a shell in its own session (so its whole tree is one process
/// group to signal), output to the job's log, its exit code also written to a file so a head that
/// restarts while the job runs can still learn how it ended.
enum EntrypointProcess {
    /// The shell that runs the entrypoint: `$1` the working directory, `$2` the command, `$3` the
    /// exit-code file; `$0` names the job (what `isRunning` checks against a reused pid).
    private static let script = #"cd "$1" || exit 127; /bin/sh -c "$2"; code=$?; printf %s "$code" > "$3"; exit "$code""#

    static func marker(_ submissionID: String) -> String { "swiftray-job:\(submissionID)" }

    /// Starts `command` in `directory` with `environment`; returns the shell's pid.
    /// - Throws: `JobError.internalError` when the log cannot be opened or the shell not started.
    static func start(
        submissionID: String, command: String, directory: String, environment: [String: String], log: String, exitFile: String
    ) throws -> pid_t {
        let fd = open(log, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JobError(.internalError, "cannot open the job's log \(log): \(errnoText())") }
        defer { close(fd) }
        let argv = ["/bin/sh", "-c", script, marker(submissionID), directory, command, exitFile]
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { argv in withCStrings(envp) { envp in swiftray_spawn_detached("/bin/sh", argv, envp, fd, &pid) } }
        guard rc == 0 else { throw JobError(.internalError, "cannot start /bin/sh for the entrypoint: \(errnoText(rc))") }
        return pid
    }

    /// Blocks until `pid` (a child of this process) exits; its exit code, or -signal.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return swiftray_wait_status_code(status)
    }

    /// Sends `signal` to the job's whole process group.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if pid > 0 { kill(-pid, signal) }
    }

    /// Whether `pid` is still this job's shell (not a reused pid), for a head recovering its jobs.
    static func isRunning(_ pid: pid_t, submissionID: String) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 else { return false }
        guard let command = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return true }
        return String(decoding: command, as: UTF8.self).contains(marker(submissionID))
    }

    /// Whether any process of the group `pid` led is still alive.
    static func groupAlive(_ pid: pid_t) -> Bool { pid > 0 && kill(-pid, 0) == 0 }
}
