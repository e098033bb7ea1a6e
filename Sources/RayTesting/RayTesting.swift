import Foundation
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
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        #if os(Linux)
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(close, offsetBy: 2)]
            return state != "Z" && state != "X"
        }
        #endif
        return true
    }

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
