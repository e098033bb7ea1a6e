import RayWire
import Synchronization

/// Mints `RayID`s: a random per-process prefix and a counter, so no coordination is needed.
package final class IDMinter: Sendable {
    private let prefix: UInt64
    private let counter = Atomic<UInt64>(0)

    package init() {
        var generator = SystemRandomNumberGenerator()
        prefix = generator.next() | 1
    }

    package func next() -> RayID {
        RayID(high: prefix, low: counter.add(1, ordering: .relaxed).newValue)
    }
}
