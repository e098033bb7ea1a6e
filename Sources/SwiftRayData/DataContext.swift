import Foundation
import Synchronization

/// How datasets execute (Ray Data's `DataContext`): set `DataContext.current` before building
/// datasets; each dataset keeps the context it was made with.
public struct DataContext: Codable, Sendable {
    /// Stage tasks running (or finished, not yet consumed) at once per operator, at most.
    public var maxTasksInFlight: Int
    /// Bytes of blocks an operator may have made and not yet handed on: the window shrinks to fit
    /// it once block sizes are known, so a dataset larger than memory streams through.
    public var memoryBudget: Int
    /// Files larger than this are read as several blocks, split at line ends (Ray's 128 MiB).
    public var targetBlockBytes: Int
    /// CPUs each stage task holds.
    public var cpusPerTask: Double
    /// How often a stage task whose worker died is retried.
    public var maxRetries: Int
    /// A progress line per execution on standard error, when it is a terminal (Ray's
    /// `enable_progress_bars`).
    public var progressBars: Bool
    /// Each execution's operators published to the cluster's key-value store for the dashboard's
    /// Data page and `/metrics` (at most four writes a second per execution).
    public var publishStats: Bool

    public init(
        maxTasksInFlight: Int = max(2, ProcessInfo.processInfo.activeProcessorCount * 2), memoryBudget: Int = DataContext.defaultBudget,
        targetBlockBytes: Int = 128 << 20, cpusPerTask: Double = 1, maxRetries: Int = 3, progressBars: Bool = true, publishStats: Bool = true
    ) {
        self.progressBars = progressBars
        self.publishStats = publishStats
        self.maxTasksInFlight = maxTasksInFlight
        self.memoryBudget = memoryBudget
        self.targetBlockBytes = targetBlockBytes
        self.cpusPerTask = cpusPerTask
        self.maxRetries = maxRetries
    }

    /// A quarter of physical memory, at most 2 GiB.
    public static let defaultBudget = min(2 << 30, Int(ProcessInfo.processInfo.physicalMemory / 4))

    private static let shared = Mutex(DataContext())

    /// The context new datasets take.
    public static var current: DataContext {
        get { shared.withLock { $0 } }
        set { shared.withLock { $0 = newValue } }
    }
}
