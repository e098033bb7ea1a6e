import RayNode
import RayWire

/// Options of a task, named as in Ray: `numCPUs`, `numGPUs`, `memory`, `resources`, `maxRetries`,
/// `retryExceptions`, `name`.
public struct TaskOptions: Sendable, Equatable {
    /// CPUs the task holds while it runs (default 1; fractions allowed, 0 for none).
    public var numCPUs: Double = 1
    /// GPUs the task holds while it runs.
    public var numGPUs: Double = 0
    /// Bytes of memory the task reserves for scheduling.
    public var memory: Double = 0
    /// Custom resources by name.
    public var resources: [String: Double] = [:]
    /// Retries when the worker dies mid-task (default 3, -1 forever, 0 none).
    public var maxRetries: Int = 3
    /// Whether errors thrown by the task's code are retried too (within `maxRetries`).
    public var retryExceptions: Bool = false
    /// The name shown in logs and errors (default: the function's name).
    public var name: String?
    /// Where the task may run: `.default` (pack), `.spread`, `.nodeAffinity(nodeID:soft:)`, or
    /// `.placementGroup(group, bundleIndex:)`.
    public var schedulingStrategy: SchedulingStrategy = .default
    /// The runtime environment its worker runs in (added to the job's).
    public var runtimeEnv: RuntimeEnvironment?
    /// For a streaming function: how many yielded items its consumer may leave untaken before the
    /// producer pauses (Ray's `_generator_backpressure_num_objects`); nil: it never pauses.
    public var generatorBackpressure: Int?

    public init() {}

    /// The demand the scheduler sees.
    var demand: ResourceSet {
        var demand = resources
        if numCPUs > 0 { demand["CPU"] = numCPUs }
        if numGPUs > 0 { demand["GPU"] = numGPUs }
        if memory > 0 { demand["memory"] = memory }
        return demand
    }

    /// A reason the options are unusable, or nil.
    var problem: String? {
        if numCPUs < 0 || numGPUs < 0 || memory < 0 || resources.values.contains(where: { $0 < 0 }) {
            return "resource amounts cannot be negative: \(self)"
        }
        if maxRetries < -1 { return "maxRetries must be -1 (forever) or more, not \(maxRetries)" }
        if let generatorBackpressure, generatorBackpressure < 1 {
            return "generatorBackpressure must be at least 1 item, not \(generatorBackpressure)"
        }
        return nil
    }
}
