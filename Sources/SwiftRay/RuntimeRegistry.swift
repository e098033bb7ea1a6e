import RayWorker
import Synchronization

/// The runtime of this process: the embedded cluster in a driver, the worker runtime in a worker.
enum RuntimeRegistry {
    private static let slot = Mutex<(any CoreRuntime)?>(nil)

    static var current: (any CoreRuntime)? { slot.withLock { $0 } }

    static func require() throws -> any CoreRuntime {
        guard let runtime = current else { throw RaySystemError.notStarted }
        return runtime
    }

    /// Installs `runtime` unless one is running; returns whether it did.
    static func install(_ runtime: any CoreRuntime) -> Bool {
        slot.withLock { current in
            guard current == nil else { return false }
            current = runtime
            return true
        }
    }

    static func remove() -> (any CoreRuntime)? {
        slot.withLock { current in
            defer { current = nil }
            return current
        }
    }
}
