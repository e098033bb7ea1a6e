import Synchronization

/// Connections to a server that have not presented the cluster token yet, against a cap: past it
/// new ones are closed at once, so strangers cannot take the descriptors nodes and drivers need.
package final class UnauthenticatedConnections: Sendable {
    /// The most that may wait at once.
    package let limit: Int
    private let count = Atomic<Int>(0)

    package init(limit: Int = 128) { self.limit = limit }

    /// Counts a new connection in; false when it is over the limit (it stays counted until `leave`).
    package func arrive() -> Bool { count.wrappingAdd(1, ordering: .relaxed).newValue <= limit }

    /// A counted connection authenticated or closed.
    package func leave() { count.wrappingSubtract(1, ordering: .relaxed) }
}
