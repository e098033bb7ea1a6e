import Foundation
import RayObjectStore
/// How a node manager runs: what the node declares and how its workers start.
package struct NodeConfig: Sendable {
    /// The node's identifier, shown in errors and logs.
    package var nodeID: String
    /// Total resources the node offers (`CPU`, `GPU`, `memory`, custom).
    package var resources: ResourceSet
    /// The binary workers run: the driver's own by default.
    package var workerExecutable: String
    /// Workers started at once, before any task asks for one.
    package var prestartWorkers: Int
    /// Whether workers' output is printed by the driver, prefixed `(name pid=N)`.
    package var logToDriver: Bool
    /// Workers allowed to be starting at the same time.
    package var maxStartingWorkers: Int
    /// Consecutive worker start failures after which queued tasks fail instead of waiting.
    package var maxStartFailures: Int
    /// Idle task workers beyond `prestartWorkers` stop after this long idle (as Ray's idle worker
    /// killing), so a burst of nested tasks does not leave extra processes behind.
    package var idleWorkerTimeout: Duration
    /// Where large objects live in shared memory (nil: every object inline in the node manager).
    package var objectDirectory: SharedObjectDirectory?
    /// Where each worker's output is kept (`worker-<pid>.log`); nil keeps none.
    package var logsFolder: String?
    /// The memory monitor's threshold (Ray's `memory_usage_threshold`): above this share of the
    /// machine's memory in use, the worker of the most recently started retriable task is killed.
    package var memoryUsageThreshold: Double = MemoryMonitorSettings.threshold
    /// How often the monitor looks (Ray's `memory_monitor_refresh_ms`); nil: it never does.
    package var memoryMonitorInterval: Duration? = MemoryMonitorSettings.interval

    package init(
        nodeID: String, resources: ResourceSet, workerExecutable: String, prestartWorkers: Int,
        logToDriver: Bool = true, maxStartingWorkers: Int = 4, maxStartFailures: Int = 3,
        idleWorkerTimeout: Duration = .seconds(10), objectDirectory: SharedObjectDirectory? = nil, logsFolder: String? = nil
    ) {
        self.logsFolder = logsFolder
        self.nodeID = nodeID
        self.resources = resources
        self.workerExecutable = workerExecutable
        self.prestartWorkers = prestartWorkers
        self.logToDriver = logToDriver
        self.maxStartingWorkers = maxStartingWorkers
        self.maxStartFailures = maxStartFailures
        self.idleWorkerTimeout = idleWorkerTimeout
        self.objectDirectory = objectDirectory
    }
}

/// The memory monitor's settings from the environment: `SWIFTRAY_MEMORY_USAGE_THRESHOLD` (or Ray's
/// `RAY_memory_usage_threshold`; default 0.95) and `SWIFTRAY_MEMORY_MONITOR_REFRESH_MS` (or
/// `RAY_memory_monitor_refresh_ms`; default 250, 0 turns the monitor off).
package enum MemoryMonitorSettings {
    package static var threshold: Double {
        value("SWIFTRAY_MEMORY_USAGE_THRESHOLD", "RAY_memory_usage_threshold").flatMap(Double.init).map { min(max($0, 0), 1) } ?? 0.95
    }

    package static var interval: Duration? {
        let millis = value("SWIFTRAY_MEMORY_MONITOR_REFRESH_MS", "RAY_memory_monitor_refresh_ms").flatMap(Int.init) ?? 250
        return millis > 0 ? .milliseconds(millis) : nil
    }

    private static func value(_ names: String...) -> String? {
        let environment = ProcessInfo.processInfo.environment
        return names.lazy.compactMap { environment[$0] }.first
    }
}
