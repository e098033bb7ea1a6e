import NIOCore
import RayTransport
import RayWire

/// What a process connected to the node manager is for.
package enum WorkerRole: Equatable {
    /// Runs tasks (a pool worker).
    case tasks
    /// Hosts one actor and runs only its calls.
    case actor(RayID)
    /// A driver connected over the network: it submits and holds refs but runs nothing.
    case driver
}

/// The node manager's view of one worker process.
/// Confined to the node manager's event loop.
package final class WorkerHandle: @unchecked Sendable {
    package let id: Int
    package var pid: Int32
    package var channel: (any Channel)?
    package var registered = false
    package let role: WorkerRole
    package var dead = false
    /// Tasks sent to this worker and not finished (running or queued there).
    var running: Set<TaskID> = []
    /// Of those, the ones not blocked in `get`/`wait`.
    var active = 0
    /// The demand the worker holds while it has tasks: tasks of the same demand may queue on it
    /// (pipelining) without taking more resources, since it runs one at a time.
    var lease: ResourceSet?
    /// Where the lease was taken from (its node, or a placement group bundle), and under which strategy.
    var leaseTarget: LeaseTarget?
    var leaseStrategy: SchedulingStrategy = .default
    /// Whether the lease's CPU is lent back because every task on the worker is blocked.
    var lent = false
    /// Its running task is slow (it handed back its queue): queue nothing more on it until it is free.
    var slow = false
    /// Told to exit because it idled too long: it takes no more tasks.
    package var retiring = false
    /// Set when the memory monitor killed it: why (node, memory use, threshold).
    var killedForMemory: String?
    /// When it last became idle.
    var idleSince = NIODeadline.now()
    /// The name of the task it ran last, for log prefixes.
    var currentName = "worker"
    /// References this process holds, by object: dropped if it dies.
    var holds: [ObjectID: Int] = [:]
    /// Messages written since the last flush.
    var unflushed = 0
    /// The channel's frame writer, written to directly (found on the first send).
    private var writer: CoalescingFrameWriter?
    /// Messages waiting, in order, for objects to be copied to its node's store.
    var deferred = CircularBuffer<DeferredMessage>()

    /// The node it runs on.
    package let node: NodeRecord
    /// The binary it runs (its job's); for a worker that outlived the previous head, learnt once a
    /// resuming driver claims one of its tasks.
    package var pool: WorkerPool
    /// It outlived the previous head and re-attached with its tasks: it takes no new ones.
    var outlivedHead = false
    /// Such a worker's job is not known yet: what needs it waits in `heldForJob`.
    var awaitingJob = false
    /// What such a worker sent from its first message that needs its job on, in order.
    var heldForJob: [WireMessage] = []

    package init(id: Int, pid: Int32, node: NodeRecord, pool: WorkerPool, role: WorkerRole) {
        self.id = id
        self.pid = pid
        self.node = node
        self.pool = pool
        self.role = role
    }

    /// The actor it is dedicated to, if any; such a worker never takes tasks.
    package var actorID: RayID? {
        if case .actor(let id) = role { id } else { nil }
    }

    package var isDriver: Bool { role == .driver }

    /// Tasks that may queue on one worker.
    static let pipelineDepth = 8

    /// Whether it maps a shared-memory store: the node manager's (a local worker) or its own node's;
    /// drivers connected over the network and workers of nodes without a store receive large
    /// objects inline.
    var sharesMemory: Bool { node.hasStore && !isDriver }

    /// The node whose store must hold the objects sent to it: its own, or this one's to inline them.
    func storeNode(local: NodeRecord) -> NodeRecord { sharesMemory ? node : local }

    var usable: Bool { registered && !dead && !retiring && role == .tasks && node.schedulable }

    /// Free: no tasks, so it can take any task whose demand fits.
    package var isIdle: Bool { usable && running.isEmpty }

    /// All its tasks are blocked (their CPU lent back): it can run one more of the same demand.
    func canResume(_ cls: SchedulingClass) -> Bool {
        usable && pool == cls.pool && leaseStrategy == cls.strategy && !running.isEmpty && active == 0 && lease == cls.demand
    }

    /// Busy with unblocked tasks of this demand and room to queue one more. Only CPU-only demands
    /// queue: a queued task starts when the running one blocks, and only CPU is lent then.
    func canPipeline(_ cls: SchedulingClass) -> Bool {
        usable && pool == cls.pool && leaseStrategy == cls.strategy && cls.strategy != .spread && !slow && lease == cls.demand
            && cls.demand.onlyCPU
            && active == running.count && running.count < Self.pipelineDepth
    }

    /// Writes a message; the node manager flushes once per event-loop tick.
    func send(_ message: WireMessage) {
        guard let channel, !dead else { return }
        channel.writeFrame(message, writer: &writer)
        unflushed += 1
        // In a burst (a thousand calls submitted at once), the worker starts on the first ones
        // while the rest are still being written.
        if unflushed >= Self.flushEvery { flush() }
    }

    static let flushEvery = 16

    func flush() {
        guard unflushed > 0, let channel else { return }
        unflushed = 0
        channel.flush()
    }
}

/// A message held back until the objects it names have copies on the receiver's node.
final class DeferredMessage {
    enum Outcome { case waiting, ready, lost }

    let message: WireMessage
    /// `lost`: some value's holders died; the sender asks again (`onLost`) if it can.
    var outcome = Outcome.waiting
    let onLost: (() -> Void)?

    package init(_ message: WireMessage, onLost: (() -> Void)?) {
        self.message = message
        self.onLost = onLost
    }
}
