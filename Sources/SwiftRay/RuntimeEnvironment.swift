import Synchronization

/// Where a task's or actor's code runs (Ray's `runtime_env`): environment variables (`env_vars`)
/// set in its worker process, and a working directory (`working_dir`) it runs in. Given to
/// `Ray.start(runtimeEnv:)` it applies to every task and actor of the job; given in
/// `.options(runtimeEnv:)` or `ActorOptions(runtimeEnv:)` it adds to (and overrides) the job's.
/// Work with different environments never shares a worker process; tasks started by a task
/// inherit its environment, as in Ray.
public struct RuntimeEnvironment: Sendable, Equatable, Codable {
    /// Environment variables the worker runs with.
    public var envVars: [String: String]
    /// A folder of this machine (absolute, or relative to the current directory) whose files
    /// every worker of the environment gets, on any node, as its current directory. It is packed
    /// once per process when first used (later edits are not seen), shipped through the object
    /// store, and unpacked once per node by a hash of its contents. At most 100 MiB
    /// (`SWIFTRAY_WORKING_DIR_MAX_MB`); more is a `RaySystemError` at `Ray.start` or submission.
    public var workingDir: String?

    public init(envVars: [String: String] = [:], workingDir: String? = nil) {
        self.envVars = envVars
        self.workingDir = workingDir
    }

    /// This environment with `other`'s settings added over it.
    func adding(_ other: RuntimeEnvironment?) -> RuntimeEnvironment {
        guard let other else { return self }
        return RuntimeEnvironment(envVars: envVars.merging(other.envVars) { $1 }, workingDir: other.workingDir ?? workingDir)
    }

    /// The variables a worker of this environment starts with (the working directory's package
    /// among them, packed now if it was not yet).
    /// - Throws: `RaySystemError` when the working directory cannot be packed.
    func workerVariables() throws -> [String: String] {
        guard let workingDir else { return envVars }
        var variables = envVars
        variables[WorkingDirectory.variable] = try WorkingDirectory.package(workingDir)
        return variables
    }

    private static let job = Mutex(RuntimeEnvironment())

    /// The job's environment (set by `Ray.start`).
    static var forJob: RuntimeEnvironment {
        get { job.withLock { $0 } }
        set { job.withLock { $0 = newValue } }
    }
}
