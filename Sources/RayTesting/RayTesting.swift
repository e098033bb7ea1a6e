import CRayShims
import Foundation
import RayPlatform
import SwiftRay

/// Helpers for tests that run a real local cluster, ours and users' alike (like Ray's
/// `cluster_utils`): start a cluster, always stop it, and wait for process-level facts.
public enum RayTesting {
    /// Runs `body` on a fresh local cluster and shuts it down afterwards, even when `body` throws.
    public static func withCluster<T>(
        numCPUs: Int = 2, numGPUs: Int = 0, resources: [String: Double] = [:], logToDriver: Bool = true,
        _ body: (Ray) async throws -> T
    ) async throws -> T {
        let ray = try await Ray.start(numCPUs: numCPUs, numGPUs: numGPUs, resources: resources, logToDriver: logToDriver)
        do {
            let result = try await body(ray)
            try await ray.shutdown()
            return result
        } catch {
            try? await ray.shutdown()
            throw error
        }
    }

    /// Whether a process with this pid exists (and is not a zombie).
    public static func isAlive(_ pid: Int32) -> Bool { processIsRunning(pid) }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held. For facts
    /// outside the runtime's events (a process exiting), not as a substitute for awaiting results.
    public static func eventually(
        timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(20),
        _ condition: () async throws -> Bool
    ) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: interval)
        }
        return try await condition()
    }

    /// The page at `url` as a headless Chromium leaves it after 4 s of (virtual) time: its DOM, the
    /// console's errors in the output. Nil when Chromium is not installed (`.ci/run` installs it).
    public static func renderedPage(_ url: String) throws -> (status: Int32, output: String)? {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        return try runProcess(chromium, [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=4000", "--dump-dom", url,
        ])
    }

    /// Runs an executable to its end and returns its exit status and output (stdout and stderr
    /// together). Uses `posix_spawn` and `waitpid` directly, which stay reliable inside async tests.
    public static func runProcess(
        _ path: String, _ arguments: [String], environment: [String: String] = [:]
    ) throws -> (status: Int32, output: String) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        // Only the output pipe: a `swiftray stop` holding the test driver's connection (NIO's
        // sockets are inheritable) would keep the head waiting for that driver to leave.
        let rc = swiftray_spawn(path, argv, envp, -1, fds[1], fds[1], &pid)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .ENOENT)
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fds[0], &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            output += buffer[0..<count]
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
        return (code, String(decoding: output, as: UTF8.self))
    }

    /// The path of an executable built next to the running test binary.
    public static func siblingExecutable(_ name: String) -> String {
        let own = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0])
        var folder = own.deletingLastPathComponent()
        // On macOS the test binary sits inside a .xctest bundle.
        while folder.pathExtension == "xctest" || folder.lastPathComponent == "MacOS" || folder.lastPathComponent == "Contents" {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent(name).path
    }
}
