import Synchronization

/// Where a task's or actor's code runs (Ray's `runtime_env`): for now, environment variables
/// (`env_vars`) set in its worker process. Given to `Ray.start(runtimeEnv:)` it applies to every
/// task and actor of the job; given in `.options(runtimeEnv:)` or `ActorOptions(runtimeEnv:)` it
/// adds to (and overrides) the job's. Work with different environments never shares a worker
/// process; tasks started by a task inherit its environment, as in Ray.
public struct RuntimeEnvironment: Sendable, Equatable, Codable {
    /// Environment variables the worker runs with.
    public var envVars: [String: String]

    public init(envVars: [String: String] = [:]) {
        self.envVars = envVars
    }

    /// This environment with `other`'s settings added over it.
    func adding(_ other: RuntimeEnvironment?) -> RuntimeEnvironment {
        guard let other else { return self }
        return RuntimeEnvironment(envVars: envVars.merging(other.envVars) { $1 })
    }

    private static let job = Mutex(RuntimeEnvironment())

    /// The job's environment (set by `Ray.start`).
    static var forJob: RuntimeEnvironment {
        get { job.withLock { $0 } }
        set { job.withLock { $0 = newValue } }
    }
}
