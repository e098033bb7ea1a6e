import NIOCore
import RayPlatform
import RayWire

/// One call waiting to be sent to its actor, or running there. Confined to the node manager's loop.
final class CallRecord {
    var call: ActorCall
    var missingArguments: Int
    /// Set when an argument failed: the call fails with that error when its turn comes.
    var failedArgument: ErrorInfo?
    var retriesLeft: Int
    /// `ray.cancel` reached it while it ran: its result is a cancellation, whatever the actor returns.
    var cancelled = false

    /// Microseconds since the epoch: submitted, and last sent to the actor.
    let submittedAt = wallMicros()
    var startedAt: Int64?

    init(call: ActorCall, retries: Int) {
        self.call = call
        missingArguments = call.dependencies.count
        retriesLeft = retries
    }

    var isReady: Bool { missingArguments == 0 || failedArgument != nil }
}

/// The node manager's view of one actor. Confined to the node manager's loop.
final class ActorRecord {
    enum State: Equatable {
        /// Waiting for resources to be placed.
        case pending
        /// Its worker starts and runs the constructor.
        case starting(workerID: Int)
        case alive(workerID: Int)
        case dead(ErrorInfo)
    }

    let spec: ActorSpec
    var state: State = .pending
    var restartsLeft: Int
    /// Times it was restarted so far.
    var restarts = 0
    /// The worker that created it (0: the driver; `NodeManager.ownerResuming`: re-attached by a
    /// worker that outlived the head, its driver yet to resume); a non-detached actor dies with
    /// its creator.
    var creatorWorkerID: Int
    /// Calls not sent yet, in submission order.
    var queue = CircularBuffer<CallRecord>()
    /// Calls sent to the actor's worker and not finished.
    var inFlight: [RayID: CallRecord] = [:]
    /// In-flight calls in sending order; ids of calls already done may linger behind an older
    /// running call (readers skip ids no longer in `inFlight`).
    var inFlightOrder = CircularBuffer<RayID>()
    var holding: ResourceSet = [:]
    /// Set by `killActor(noRestart: true)`: the coming death is final.
    var killedForGood = false
    /// Set by `killActor`: calls wait for the process's death (and the restart) instead of going to
    /// the dying process.
    var killing = false
    /// Every handle to it is gone: it stops when its calls are done.
    var outOfScope = false
    /// The pid of its current (or last) process, for the state API.
    var lastPID: Int32?
    /// Restored by a restarted head: its worker may still re-attach it (see `restoreDetachedActors`).
    var awaitingReattach = false
    /// Restored by a head started without its job's binary: it restarts once a node hands the
    /// binary back (see `binaryArrived`).
    var awaitingBinary = false

    /// The workers that can host it: its creator's job's.
    var pool: WorkerPool
    /// Where it holds its resources while placed (its node, or a placement group bundle).
    var holdingTarget: LeaseTarget?

    init(spec: ActorSpec, creatorWorkerID: Int, pool: WorkerPool) {
        self.spec = spec
        self.creatorWorkerID = creatorWorkerID
        self.pool = pool
        restartsLeft = spec.maxRestarts
    }

    package var id: RayID { spec.actorID }

    var workerID: Int? {
        switch state {
        case .starting(let id), .alive(let id): id
        case .pending, .dead: nil
        }
    }

    var isDead: Bool { if case .dead = state { true } else { false } }

    /// Removes and returns the in-flight calls, oldest first.
    func takeInFlight() -> [CallRecord] {
        defer {
            inFlight = [:]
            inFlightOrder = CircularBuffer()
        }
        return inFlightOrder.compactMap { inFlight[$0] }
    }
}
