import NIOCore
import RayWire

/// The node manager's view of one worker process.
/// Confined to the node manager's event loop.
final class WorkerHandle: @unchecked Sendable {
    let id: Int
    let pid: Int32
    var channel: (any Channel)?
    var registered = false
    /// The actor this worker is dedicated to, if any; such a worker never takes tasks.
    let actorID: RayID?
    var dead = false
    /// Tasks sent to this worker and not finished.
    var running: Set<TaskID> = []
    /// Running tasks not blocked in `get`/`wait`; the worker takes a new task only at zero.
    var active = 0
    /// The name of the task it ran last, for log prefixes.
    var currentName = "worker"
    /// References this process holds, by object: dropped if it dies.
    var holds: [ObjectID: Int] = [:]
    /// Messages written since the last flush.
    var needsFlush = false

    init(id: Int, pid: Int32, actorID: RayID? = nil) {
        self.id = id
        self.pid = pid
        self.actorID = actorID
    }

    var canTakeTask: Bool { registered && !dead && active == 0 && actorID == nil }

    /// Writes a message; the node manager flushes once per event-loop tick.
    func send(_ message: WireMessage) {
        guard let channel, !dead else { return }
        channel.write(message, promise: nil)
        needsFlush = true
    }

    func flush() {
        guard needsFlush, let channel else { return }
        needsFlush = false
        channel.flush()
    }
}
