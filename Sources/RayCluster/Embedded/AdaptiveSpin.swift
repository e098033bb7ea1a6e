import Synchronization
import RayPlatform

/// Decides whether a caller about to wait should first spin a little. A synchronous round trip to
/// a worker takes ~100 us here; sleeping adds two thread wake-ups (loop to caller) on top, so a
/// caller whose recent waits were that short checks for its result for up to `budget` instead.
/// Once waits grow long (tasks that compute), it stops spinning and costs nothing.
final class AdaptiveSpin: Sendable {
    /// Spin for this long at most (microseconds)...
    static let budget: Int64 = 250
    /// ...and only while recent waits averaged under this.
    static let shortWait: Int64 = 250
    /// Gets of more objects than this never spin (each check scans them all).
    static let maxObjects = 16

    /// Recent waits, an exponential moving average in microseconds.
    private let average = Atomic<Int64>(0)

    /// Calls `check` until it yields a value or the budget is spent; nil at once when recent waits
    /// were long.
    func spin<T>(until check: () -> T?) -> T? {
        guard average.load(ordering: .relaxed) < Self.shortWait else { return nil }
        let deadline = wallMicros() + Self.budget
        repeat {
            if let value = check() { return value }
            sched_yield()
        } while wallMicros() < deadline
        return nil
    }

    /// How long a wait took, spinning or not.
    func record(_ micros: Int64) {
        let old = average.load(ordering: .relaxed)
        average.store(old + (min(micros, 100_000) - old) / 4, ordering: .relaxed)
    }
}
