import Synchronization

/// The calls that reached a hosted actor and have not been taken by its serving task. The serving
/// task takes everything queued at once, so a burst read from the socket runs in one go without
/// a wake-up per call.
final class CallMailbox: Sendable {
    private struct State {
        var items: [ActorHosting.Item] = []
        var waiter: CheckedContinuation<[ActorHosting.Item], Never>?
    }

    private let state = Mutex(State())

    /// Adds a call; wakes the serving task if it waits.
    func put(_ item: ActorHosting.Item) {
        let waiter = state.withLock { state -> CheckedContinuation<[ActorHosting.Item], Never>? in
            guard let waiter = state.waiter else {
                state.items.append(item)
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: [item])
    }

    /// Every queued call, in arrival order; waits for one when there is none. Runs on the
    /// caller's isolation (the hosted actor's): no hop off the actor and back.
    func take(isolation: isolated (any Actor)? = #isolation) async -> [ActorHosting.Item] {
        let queued = state.withLock { state -> [ActorHosting.Item] in
            defer { state.items = [] }
            return state.items
        }
        if !queued.isEmpty { return queued }
        return await withCheckedContinuation(isolation: isolation) { continuation in
            let ready = state.withLock { state -> [ActorHosting.Item]? in
                if state.items.isEmpty {
                    state.waiter = continuation
                    return nil
                }
                defer { state.items = [] }
                return state.items
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Counts an async actor's running calls against its `maxConcurrency`.
final class CallSlots: Sendable {
    private struct State {
        var free: Int
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(_ limit: Int) { state = Mutex(State(free: limit)) }

    /// Takes a slot, waiting for a running call to finish when all are taken.
    func acquire(isolation: isolated (any Actor)? = #isolation) async {
        let taken = state.withLock { state -> Bool in
            guard state.free > 0 else { return false }
            state.free -= 1
            return true
        }
        if taken { return }
        await withCheckedContinuation(isolation: isolation) { continuation in
            let now = state.withLock { state -> Bool in
                guard state.free > 0 else {
                    state.waiter = continuation
                    return false
                }
                state.free -= 1
                return true
            }
            if now { continuation.resume() }
        }
    }

    /// A call finished: its slot goes to the waiting taker, or back to the pool.
    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.free += 1
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
