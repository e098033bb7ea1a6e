import CRayShims
import RayObjectStore
import RayPlatform
import RayWire

/// Starts worker processes from an executable: the child gets its end of a socket pair as fd 3 and
/// the environment variables that make the pre-main hook run the worker loop.
package enum WorkerLauncher {
    package struct Launched: Sendable {
        package let pid: Int32
        package let channelFD: Int32
        package let stdoutFD: Int32
        package let stderrFD: Int32
    }

    struct LaunchError: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts a worker connected to this process through a socket pair (fd 3 in the child).
    static func launch(
        executable: String, workerID: Int, nodeID: String, objectDirectory: SharedObjectDirectory?, variables: [String: String] = [:]
    ) throws -> Launched {
        var sockets: [Int32] = [-1, -1]
        try check(swiftray_socketpair(&sockets), "socketpair")
        var environment = workerEnvironment(workerID: workerID, nodeID: nodeID, variables: variables)
        environment.append("SWIFTRAY_WORKER_FD=3")
        environment += objectDirectory?.environment ?? []
        do {
            let launched = try spawn(executable, environment: environment, channelFD: sockets[1])
            close(sockets[1])
            return Launched(pid: launched.pid, channelFD: sockets[0], stdoutFD: launched.stdoutFD, stderrFD: launched.stderrFD)
        } catch {
            close(sockets[0])
            close(sockets[1])
            throw error
        }
    }

    /// Starts a worker for a remote head (from a node daemon): it connects to `head` over the network
    /// and introduces itself with the token and its worker id. Its channel fd is -1.
    package static func launchConnecting(
        executable: String, workerID: Int, nodeID: String, head: String, token: String, objectDirectory: SharedObjectDirectory? = nil,
        variables: [String: String] = [:]
    ) throws -> Launched {
        var environment = workerEnvironment(workerID: workerID, nodeID: nodeID, variables: variables)
        environment += ["SWIFTRAY_WORKER_FD=-1", "SWIFTRAY_WORKER_CONNECT=\(head)", "SWIFTRAY_WORKER_TOKEN=\(token)"]
        environment += objectDirectory?.environment ?? []
        return try spawn(executable, environment: environment, channelFD: -1)
    }

    private static func spawn(_ executable: String, environment: [String], channelFD: Int32) throws -> Launched {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        try check(swiftray_pipe(&out), "pipe")
        try check(swiftray_pipe(&err), "pipe")
        var pid: pid_t = 0
        let rc = withCStrings([executable, "--swiftray-worker"]) { argv in
            withCStrings(environment) { envp in
                swiftray_spawn(executable, argv, envp, channelFD, out[1], err[1], &pid)
            }
        }
        close(out[1])
        close(err[1])
        guard rc == 0 else {
            close(out[0])
            close(err[0])
            throw LaunchError(description: "cannot start worker \(executable): \(errnoText(rc))")
        }
        return Launched(pid: pid, channelFD: -1, stdoutFD: out[0], stderrFD: err[0])
    }

    /// This process's environment without its own swift-ray settings, with `variables` (a runtime
    /// environment's) set over it, and the worker's settings.
    private static func workerEnvironment(workerID: Int, nodeID: String, variables: [String: String]) -> [String] {
        var environment: [String] = []
        var pointer = environ
        while let entry = pointer.pointee {
            let string = String(cString: entry)
            let name = string.split(separator: "=", maxSplits: 1).first.map(String.init) ?? string
            if variables[name] == nil, !string.hasPrefix("SWIFTRAY_WORKER") && !string.hasPrefix("SWIFTRAY_PARENT_PID=")
                && !string.hasPrefix("SWIFTRAY_NODE_ID=") && !string.hasPrefix("SWIFTRAY_OBJECT_") && !string.hasPrefix("SWIFTRAY_SPILL_DIR=") {
                environment.append(string)
            }
            pointer += 1
        }
        if !environment.contains(where: { $0.hasPrefix("GLIBC_TUNABLES=") }), getenvString("SWIFTRAY_WORKER_HUGEPAGES") != "0" {
            environment.append(hugePageTunable)
        }
        environment += variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        environment.append("SWIFTRAY_WORKER_ID=\(workerID)")
        environment.append("SWIFTRAY_NODE_ID=\(nodeID)")
        environment.append("SWIFTRAY_PARENT_PID=\(getpid())")
        return environment
    }

    /// Workers' allocator settings: large allocations (arrays of megabytes) get transparent huge
    /// pages (a fresh 80 MB array costs 40 page faults instead of 20,000), and come from one heap that
    /// keeps freed memory (no `mmap`/`munmap` per array, so the kernel does not zero the pages again
    /// for the next one). Together they more than double the rate at which tasks build and store big
    /// arrays. Kept when the user sets `GLIBC_TUNABLES`; off with `SWIFTRAY_WORKER_HUGEPAGES=0`.
    static let hugePageTunable = "GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1"
        + ":glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864"

    private static func check(_ rc: Int32, _ what: String) throws {
        guard rc == 0 else { throw LaunchError(description: "\(what) failed: \(errnoText(rc))") }
    }

    /// Calls `body` with a NULL-terminated C array of the strings (for `posix_spawn`).
    package static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        RayPlatform.withCStrings(strings, body)
    }
}
