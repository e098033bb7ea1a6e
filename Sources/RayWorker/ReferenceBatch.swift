import NIOCore
import RayWire
import Synchronization

/// Reference changes (`addRefs`/`releaseRefs`) from any thread, delivered in batches on the event
/// loop, never out of order with the process's other operations: a change made before an
/// operation is applied before it, and one made after is applied after it. (A release that
/// overtook a later submission could free an object the submission needs.)
package final class ReferenceBatch: Sendable {
    private struct State {
        var adds: [ObjectID] = []
        var releases: [ObjectID] = []
        /// Bumped by every operation; a flush only applies changes of the generation it was
        /// scheduled in.
        var generation: UInt64 = 0
        var flushScheduledFor: UInt64?
        /// Operations queued by `enqueueBatched` that share one loop hop, while nothing else was
        /// enqueued or recorded since the first of them.
        var openBatch: Batch?
        /// The references this process holds, per object, when counted (see `countingHeld`).
        var held: [ObjectID: Int]?

        mutating func count(_ ids: [ObjectID], _ change: Int) {
            guard held != nil else { return }
            for id in ids {
                let count = held![id, default: 0] + change
                held![id] = count > 0 ? count : nil
            }
        }
    }

    /// Operations that run together on the loop; guarded by `state`'s lock until taken.
    private final class Batch: @unchecked Sendable {
        var operations: [@Sendable () -> Void]
        init(_ operation: @escaping @Sendable () -> Void) { operations = [operation] }
    }

    private let state = Mutex(State())
    /// Set once the loop is going away: later changes and operations are dropped (a ref released
    /// after `shutdown` has nobody to tell).
    private let closed = Atomic<Bool>(false)
    private let countingHeld: Bool
    /// Bumped by `resume` (under the state's lock): changes taken before it are not applied after.
    private let resumes = Atomic<UInt64>(0)
    private let loop: any EventLoop
    private let apply: @Sendable (_ adds: [ObjectID], _ releases: [ObjectID]) -> Void

    /// `apply` runs on `loop`. `countingHeld`: also keep count of the references this process
    /// holds, for `resume` (a worker that may outlive its head).
    package init(
        loop: any EventLoop, countingHeld: Bool = false,
        apply: @escaping @Sendable (_ adds: [ObjectID], _ releases: [ObjectID]) -> Void
    ) {
        self.loop = loop
        self.apply = apply
        self.countingHeld = countingHeld
        if countingHeld { state.withLock { $0.held = [:] } }
    }

    package func add(_ ids: [ObjectID]) { record { $0.adds += ids; $0.count(ids, 1) } }
    package func release(_ ids: [ObjectID]) { record { $0.releases += ids; $0.count(ids, -1) } }
    package func add(_ id: ObjectID) { record { $0.adds.append(id); $0.count([id], 1) } }
    package func release(_ id: ObjectID) { record { $0.releases.append(id); $0.count([id], -1) } }

    /// The process took a reference its head counted when it made the object (`put`, a call's
    /// result): counted here, nothing to send.
    package func created(_ id: ObjectID) {
        guard countingHeld else { return }
        state.withLock { $0.count([id], 1) }
    }

    /// Starts over with a new head (on the loop, before anything else is sent to it): the changes
    /// not sent yet are dropped (the old head is gone) and every reference held now is returned,
    /// once per holding, to be added at the new head. Empty unless counting.
    package func resume() -> [ObjectID] {
        loop.assertInEventLoop()
        return state.withLock { state in
            resumes.add(1, ordering: .releasing)
            state.generation &+= 1  // a flush scheduled for the old head does nothing
            state.flushScheduledFor = nil
            state.openBatch = nil
            state.adds = []
            state.releases = []
            return (state.held ?? [:]).flatMap { id, count in repeatElement(id, count: count) }
        }
    }

    /// The objects this process holds references to now (empty unless counting).
    package func heldObjects() -> Set<ObjectID> {
        state.withLock { Set(($0.held ?? [:]).keys) }
    }

    /// Runs `operation` on the loop, after the changes recorded so far: at once when called on the
    /// loop (an actor's result written as the call returns), else queued there.
    package func enqueue(_ operation: @escaping @Sendable () -> Void) {
        guard !closed.load(ordering: .acquiring) else { return }
        let (adds, releases, epoch) = state.withLock { state in
            state.generation &+= 1
            state.openBatch = nil
            defer {
                state.adds = []
                state.releases = []
            }
            return (state.adds, state.releases, resumes.load(ordering: .relaxed))
        }
        if loop.inEventLoop {
            if !adds.isEmpty || !releases.isEmpty { apply(adds, releases) }
            return operation()
        }
        if adds.isEmpty && releases.isEmpty {
            loop.execute(operation)
        } else {
            loop.execute { [self] in
                applyUnlessResumed(adds, releases, epoch)
                operation()
            }
        }
    }

    /// `enqueue`, for operations that come in bursts from one producer (stream items): while the
    /// loop has not run the last one and nothing else was enqueued or recorded since, the next
    /// joins it, so a burst takes one loop hop instead of one each. Order is kept.
    package func enqueueBatched(_ operation: @escaping @Sendable () -> Void) {
        guard !closed.load(ordering: .acquiring), !loop.inEventLoop else { return enqueue(operation) }
        let opened: (Batch, [ObjectID], [ObjectID], UInt64)? = state.withLock { state in
            if let open = state.openBatch {
                open.operations.append(operation)
                return nil
            }
            state.generation &+= 1
            let batch = Batch(operation)
            state.openBatch = batch
            defer {
                state.adds = []
                state.releases = []
            }
            return (batch, state.adds, state.releases, resumes.load(ordering: .relaxed))
        }
        guard let (batch, adds, releases, epoch) = opened else { return }
        loop.execute { [self] in
            applyUnlessResumed(adds, releases, epoch)
            let operations = state.withLock { state in
                if state.openBatch === batch { state.openBatch = nil }
                defer { batch.operations = [] }
                return batch.operations
            }
            for operation in operations { operation() }
        }
    }

    /// Applies changes taken in `epoch` (on the loop): none taken before a `resume` (they were
    /// meant for the old head, and the held count the new one got includes them).
    private func applyUnlessResumed(_ adds: [ObjectID], _ releases: [ObjectID], _ epoch: UInt64) {
        guard !adds.isEmpty || !releases.isEmpty, resumes.load(ordering: .acquiring) == epoch else { return }
        apply(adds, releases)
    }

    /// Drops every later change and operation; call before the loop shuts down.
    func close() { closed.store(true, ordering: .releasing) }

    private func record(_ change: (inout State) -> Void) {
        guard !closed.load(ordering: .acquiring) else { return }
        let schedule: UInt64? = state.withLock { state in
            change(&state)
            state.openBatch = nil  // later operations go after this change
            guard state.flushScheduledFor == nil else { return nil }
            state.flushScheduledFor = state.generation
            return state.generation
        }
        // A short delay gathers a burst (the thousands of refs one value holds, dropped together)
        // into one wake-up of the loop; operations enqueued meanwhile flush the changes first.
        // The flush goes through `execute` when the delay is up: the loop may run a due scheduled
        // task before immediate ones queued earlier, and an operation enqueued before this change
        // (a submission needing the object the change releases) must run first.
        if let generation = schedule {
            let loop = self.loop
            loop.scheduleTask(in: Self.gatherDelay) { loop.execute { self.flush(generation) } }
        }
    }

    static let gatherDelay = TimeAmount.microseconds(200)

    private func flush(_ generation: UInt64) {
        let (adds, releases, reschedule) = state.withLock { state -> ([ObjectID], [ObjectID], UInt64?) in
            guard state.generation == generation else {
                // Operations were enqueued since: changes now pending came after them.
                state.flushScheduledFor = state.adds.isEmpty && state.releases.isEmpty ? nil : state.generation
                return ([], [], state.flushScheduledFor)
            }
            defer {
                state.adds = []
                state.releases = []
                state.flushScheduledFor = nil
            }
            return (state.adds, state.releases, nil)
        }
        if let reschedule { loop.execute { self.flush(reschedule) } }
        if !adds.isEmpty || !releases.isEmpty { apply(adds, releases) }
    }
}
