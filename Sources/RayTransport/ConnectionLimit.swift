import RayPlatform
import Synchronization

/// A cap on connections open at once in some state (waiting to authenticate on the cluster and
/// object ports, open at all on the dashboard), shared by every connection of one server: a flood
/// of idle clients costs at most `limit` descriptors and timers.
package final class ConnectionLimit: Sendable {
    /// The most that may be counted at once.
    package let limit: Int
    private let count = Atomic<Int>(0)
    private let refusals = Atomic<Int>(0)

    package init(limit: Int = 128) { self.limit = limit }

    /// How long a connection may stay idle before it is closed: one that has not authenticated on
    /// the cluster and object ports, one between requests on the dashboard. 10 s, or
    /// `SWIFTRAY_IDLE_CONNECTION_TIMEOUT_S` seconds (read as each server or connection starts).
    package static var idleTimeout: Duration {
        guard let text = getenvString("SWIFTRAY_IDLE_CONNECTION_TIMEOUT_S"), let seconds = Double(text), seconds > 0 else { return .seconds(10) }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// Counts a new connection in; false (and not counted) when the limit is reached.
    package func admit() -> Bool {
        if count.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        count.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    /// An admitted connection left the counted state (authenticated or closed).
    package func leave() { count.wrappingSubtract(1, ordering: .relaxed) }

    /// The number refused so far, this one included (to log the first of a burst, then every 1,000th).
    package func refused() -> Int { refusals.wrappingAdd(1, ordering: .relaxed).newValue }
}
