import CRayShims
import Dispatch
import Foundation
import NIOCore
import RayNode
import RayPlatform
import RayTransport
import Synchronization

/// Running `swiftray start` daemons: in the foreground with `--block`, else detached in their own
/// session with output to the temp folder's `logs/`, the starting command waiting until they are ready.
enum Daemons {
    /// Starts this same command again with `--block`, detached; returns once the daemon recorded
    /// itself as running (ready), or throws with the end of its log.
    static func detach(
        arguments: [String], environment extra: [String: String] = [:], files: ClusterFiles, role: String
    ) throws -> (pid: Int32, log: String) {
        try files.create()
        let log = "\(files.logsFolder)/\(role)-\(Int(Date().timeIntervalSince1970))-\(getpid()).log"
        let fd = open(log, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ClusterError("cannot create \(log)") }
        defer { close(fd) }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let argv = [executable] + arguments + ["--block"]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTRAY_TEMP_DIR"] = files.root
        environment.merge(extra) { _, new in new }
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = WorkerLauncher.withCStrings(argv) { argv in WorkerLauncher.withCStrings(envp) { envp in swiftray_spawn_detached(executable, argv, envp, fd, &pid) } }
        guard rc == 0 else { throw ClusterError("cannot start the daemon: \(errnoText(rc))") }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if access("\(files.daemonsFolder)/\(pid)", F_OK) == 0 { return (pid, log) }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw ClusterError("the daemon exited (\(swiftray_wait_status_code(status))); its log (\(log)):\n\(tail(of: log))")
            }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        throw ClusterError("the daemon did not become ready within 60 s; its log (\(log)):\n\(tail(of: log))")
    }

    /// `arguments` without `option`'s occurrences (`--option VALUE` and `--option=VALUE`).
    static func removingOption(_ option: String, from arguments: [String]) -> [String] {
        var kept: [String] = []
        var skipNext = false
        for argument in arguments {
            if skipNext {
                skipNext = false
            } else if argument == option {
                skipNext = true
            } else if !argument.hasPrefix(option + "=") {
                kept.append(argument)
            }
        }
        return kept
    }

    /// Waits for SIGTERM or SIGINT, or until `closed` completes (the daemon lost its cluster).
    static func waitForTermination(orUntil closed: EventLoopFuture<Void>? = nil) async {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let queue = DispatchQueue(label: "swiftray.signals")
        let sources = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
        let resumed = Mutex(false)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finish: @Sendable () -> Void = {
                let first = resumed.withLock { done in defer { done = true }; return !done }
                if first { continuation.resume() }
            }
            for source in sources {
                source.setEventHandler(handler: finish)
                source.resume()
            }
            closed?.whenComplete { _ in finish() }
        }
        for source in sources { source.cancel() }
    }

    /// Stops every daemon recorded in `files`: SIGTERM, then SIGKILL after `grace`.
    static func stopAll(files: ClusterFiles, grace: TimeInterval = 10) -> Int {
        let pids = files.runningDaemons()
        for pid in pids { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, pids.contains(where: processIsRunning) { usleep(20_000) }
        for pid in pids where processIsRunning(pid) { kill(pid, SIGKILL) }
        for pid in pids { files.unregisterDaemon(pid: pid) }
        return pids.count
    }

    static func tail(of path: String, lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// This machine's first non-loopback IPv4 address, for telling other nodes where to connect.
    static var primaryAddress: String {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return "127.0.0.1" }
        defer { freeifaddrs(list) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard getnameinfo(address, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
            let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !text.hasPrefix("127.") { return text }
        }
        return "127.0.0.1"
    }
}
