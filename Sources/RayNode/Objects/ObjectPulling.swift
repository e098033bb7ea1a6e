import NIOCore
import RayWire

/// Copies an object from another node's object server into this node's store: the seam between
/// the node manager, which decides what to copy where, and the cluster's transfer code, which
/// moves the bytes (`ObjectPuller` in RayCluster).
package protocol ObjectPulling: Sendable {
    /// Pulls `size` bytes of object `id` from `host:port`; the future fails with `ObjectPullError`.
    func pull(_ id: ObjectID, size: Int, host: String, port: Int) -> EventLoopFuture<Void>
}

/// A pull failed; `sourceLost` tells whether the source could not provide the object (it died, or
/// no longer has it) rather than this node's store failing to take it.
package struct ObjectPullError: Error, CustomStringConvertible {
    package let message: String
    package let sourceLost: Bool
    package var description: String { message }

    package init(message: String, sourceLost: Bool) {
        self.message = message
        self.sourceLost = sourceLost
    }
}
