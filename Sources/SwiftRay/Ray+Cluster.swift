import RayTransport
import RayWorker


extension Ray {
    /// Connects this program, as a driver, to a cluster started with `swiftray start --head`: tasks
    /// and actors then run on every node of that cluster. The head receives this executable (once,
    /// by content hash) so that nodes can start workers from it.
    ///
    /// If the head dies, the session waits for a restarted head at the same address (up to
    /// `SWIFTRAY_HEAD_RECONNECT_TIMEOUT_S` seconds, default 60) and carries on with it: requests
    /// wait, tasks whose results were lost run again; after that wait, or if the head is stopped on
    /// purpose, requests fail with `HeadConnectionLostError`.
    ///
    /// - Parameters:
    ///   - address: `"HOST:PORT"`, or `"auto"` for the cluster started on this machine (default: the
    ///     `SWIFTRAY_ADDRESS` environment variable, else `"auto"`).
    ///   - token: the cluster token (default: `SWIFTRAY_TOKEN`, the file named by
    ///     `SWIFTRAY_TOKEN_FILE`, else this machine's token file written by `start --head`).
    ///   - tempDir: the folder of this machine's cluster files (default `SWIFTRAY_TEMP_DIR` or
    ///     `/tmp/swiftray`).
    ///   - runtimeEnv: the job's runtime environment, for every task and actor it starts.
    /// - Throws: `RaySystemError` when swift-ray already runs here, or the cluster cannot be reached
    ///   or refuses the token.
    @discardableResult
    public static func start(
        address: String?, token: String? = nil, tempDir: String? = nil, runtimeEnv: RuntimeEnvironment? = nil
    ) async throws -> Ray {
        guard !isInitialized else { throw RaySystemError(message: "swift-ray is already running in this process; call shutdown() first") }
        RuntimeEnvironment.forJob = runtimeEnv ?? RuntimeEnvironment()
        let files = ClusterFiles(root: tempDir)
        do {
            let target = try ClusterAddress.resolve(address, files: files)
            guard let token = ClusterToken.resolve(token, files: files) else {
                throw ClusterError("no cluster token: pass token:, set SWIFTRAY_TOKEN or SWIFTRAY_TOKEN_FILE, or run on the head's machine")
            }
            let runtime = try await WorkerRuntime.connectDriver(
                host: target.host, port: target.port, token: token, files: files, executable: WorkerExecutable.path,
                executor: WorkerServices())
            guard RuntimeRegistry.install(runtime) else {
                await runtime.disconnect()
                throw RaySystemError(message: "swift-ray is already running in this process; call shutdown() first")
            }
            try await Ray().checkJobEnvironment()
            return Ray()
        } catch let error as ClusterError {
            throw RaySystemError(message: error.description)
        }
    }
}

