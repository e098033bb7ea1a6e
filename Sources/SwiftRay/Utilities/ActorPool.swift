import Synchronization

/// A fixed set of actors that work through submitted items (Ray's `ray.util.ActorPool`).
///
/// Each submission is a call on one actor that returns a ref; an idle actor takes it at once,
/// otherwise it waits until an actor is handed back. An actor is handed back when its result is
/// taken (`getNext`, `getNextUnordered`, or by `map`). Results come in submission order
/// (`getNext`, `map`) or as they finish (`getNextUnordered`, `mapUnordered`); one pool uses one
/// order at a time, as in Ray.
///
/// ```swift
/// let pool = ActorPool<Worker, Int>([w1, w2])
/// for try await doubled in pool.map([1, 2, 3, 4]) { actor, value in actor.remote.double(value) } { ... }
/// ```
///
/// `callsPerActor` (1 by default, Ray's behaviour) lets an actor hold more than one call at once:
/// the calls queue in the actor, which keeps it busy between results (worth it for quick calls).
public final class ActorPool<Actor: RayActor, Result: Codable & Sendable>: Sendable {
    /// A call waiting for an actor.
    public typealias Call = @Sendable (Actor) -> ObjectRef<Result>

    private struct Submitted {
        let ref: ObjectRef<Result>
        let actor: Actor
    }

    private struct State {
        /// Free actors, one entry per call slot (an actor appears `callsPerActor` times when idle).
        var idle: [Actor]
        /// Submissions waiting for a slot, oldest first (`waitingHead` is the next).
        var waiting: [Call] = []
        var waitingHead = 0
        /// Submitted calls by submission index, not yet taken.
        var inFlight: [Int: Submitted] = [:]
        var nextIndex = 0
        /// The next index `getNext` returns.
        var nextReturn = 0
        /// Whether `getNextUnordered` was used (then `getNext` is not allowed until the pool drains).
        var unordered = false
    }

    private let state: Mutex<State>

    /// A pool over `actors`; each takes up to `callsPerActor` calls at once.
    public init(_ actors: [Actor], callsPerActor: Int = 1) {
        let slots = max(1, callsPerActor)
        state = Mutex(State(idle: (0..<slots).flatMap { _ in actors }))
    }

    /// Submits a call: it goes to an idle actor now, or waits for one. `call` runs while the pool
    /// is locked (it should only make the actor call, not use the pool).
    public func submit(_ call: @escaping Call) {
        state.withLock { state in
            if let actor = state.idle.popLast() {
                Self.start(call, on: actor, in: &state)
            } else {
                state.waiting.append(call)
            }
        }
    }

    /// Submits `call(actor, value)` (Ray's `submit(fn, value)`).
    public func submit<Value: Sendable>(_ value: Value, _ call: @escaping @Sendable (Actor, Value) -> ObjectRef<Result>) {
        submit { actor in call(actor, value) }
    }

    /// Whether submitted results remain to be taken.
    public var hasNext: Bool { state.withLock { !$0.inFlight.isEmpty || $0.waitingHead < $0.waiting.count } }

    /// Whether an actor could take a call now.
    public var hasFree: Bool { state.withLock { !$0.idle.isEmpty && $0.waitingHead == $0.waiting.count } }

    /// The next result in submission order, waiting up to `timeout` for it.
    /// - Throws: `ActorPoolError` when nothing is pending or after `getNextUnordered`;
    ///   `GetTimeoutError` (the result stays pending); the call's own error.
    public func getNext(timeout: Duration? = nil) async throws -> Result {
        let submitted = try state.withLock { state -> Submitted in
            guard !state.unordered else { throw ActorPoolError.orderMixed }
            guard let submitted = state.inFlight[state.nextReturn] else { throw ActorPoolError.nothingPending }
            return submitted
        }
        if let timeout {
            let (ready, _) = try await ray.wait([submitted.ref], numReturns: 1, timeout: timeout)
            if ready.isEmpty { throw GetTimeoutError(timeout: timeout) }
        }
        state.withLock { state in
            state.inFlight[state.nextReturn] = nil
            state.nextReturn += 1
            Self.handBack(submitted.actor, in: &state)
        }
        return try await ray.get(submitted.ref)
    }

    /// The next result to finish, waiting up to `timeout`.
    /// - Throws: as `getNext`.
    public func getNextUnordered(timeout: Duration? = nil) async throws -> Result {
        let pending = try state.withLock { state -> [(Int, Submitted)] in
            guard !state.inFlight.isEmpty else { throw ActorPoolError.nothingPending }
            state.unordered = true
            return Array(state.inFlight)
        }
        let (ready, _) = try await ray.wait(pending.map(\.1.ref), numReturns: 1, timeout: timeout)
        guard let first = ready.first, let (index, submitted) = pending.first(where: { $0.1.ref == first }) else {
            throw GetTimeoutError(timeout: timeout ?? .zero)
        }
        state.withLock { state in
            state.inFlight[index] = nil
            if state.inFlight.isEmpty && state.waitingHead == state.waiting.count { state.unordered = false }
            Self.handBack(submitted.actor, in: &state)
        }
        return try await ray.get(submitted.ref)
    }

    /// Runs `call(actor, value)` for every value and yields the results in the order of `values`,
    /// keeping every actor busy.
    public func map<Values: Sequence & Sendable>(
        _ values: Values, _ call: @escaping @Sendable (Actor, Values.Element) -> ObjectRef<Result>
    ) -> Results where Values.Element: Sendable {
        Results(pool: self, ordered: true) { [self] in for value in values { submit(value, call) } }
    }

    /// As `map`, yielding each result as soon as it is ready.
    public func mapUnordered<Values: Sequence & Sendable>(
        _ values: Values, _ call: @escaping @Sendable (Actor, Values.Element) -> ObjectRef<Result>
    ) -> Results where Values.Element: Sendable {
        Results(pool: self, ordered: false) { [self] in for value in values { submit(value, call) } }
    }

    /// The results of `map` or `mapUnordered`. Iterating submits the calls (after dropping what
    /// earlier submissions left, as Ray's), then takes each result in the iterating task itself.
    public struct Results: AsyncSequence, Sendable {
        public typealias Element = Result
        let pool: ActorPool
        let ordered: Bool
        let submitAll: @Sendable () -> Void

        public func makeAsyncIterator() -> Iterator { Iterator(results: self) }

        /// Takes the results one by one.
        public struct Iterator: AsyncIteratorProtocol {
            let results: Results
            var started = false

            public mutating func next() async throws -> Result? {
                let pool = results.pool
                if !started {
                    started = true
                    while pool.hasNext { _ = try? await pool.getNextUnordered() }
                    results.submitAll()
                }
                guard pool.hasNext else { return nil }
                try Task.checkCancellation()
                return try await results.ordered ? pool.getNext() : pool.getNextUnordered()
            }
        }
    }

    /// Takes an actor with no calls out of the pool (nil if every actor is busy).
    public func popIdle() -> Actor? {
        state.withLock { state in
            let busy = state.inFlight.values.map(\.actor)
            guard let actor = state.idle.last(where: { idle in !busy.contains { $0 === idle } }) else { return nil }
            state.idle.removeAll { $0 === actor }
            return actor
        }
    }

    /// Adds an actor to the pool; it takes a waiting call at once if there is one.
    public func push(_ actor: Actor) {
        state.withLock { state in Self.handBack(actor, in: &state) }
    }

    // MARK: Internals

    private static func start(_ call: Call, on actor: Actor, in state: inout State) {
        state.inFlight[state.nextIndex] = Submitted(ref: call(actor), actor: actor)
        state.nextIndex += 1
    }

    /// A slot of `actor` is free: it takes the oldest waiting call, or becomes idle.
    private static func handBack(_ actor: Actor, in state: inout State) {
        guard state.waitingHead < state.waiting.count else { return state.idle.append(actor) }
        let call = state.waiting[state.waitingHead]
        state.waitingHead += 1
        if state.waitingHead == state.waiting.count {
            state.waiting.removeAll(keepingCapacity: true)
            state.waitingHead = 0
        }
        start(call, on: actor, in: &state)
    }
}

/// A misuse of an `ActorPool`.
public enum ActorPoolError: Error, Equatable, CustomStringConvertible {
    /// `getNext`/`getNextUnordered` with no submitted calls left.
    case nothingPending
    /// `getNext` after `getNextUnordered` while calls remain (Ray forbids mixing them).
    case orderMixed

    public var description: String {
        switch self {
        case .nothingPending: "ActorPoolError: no submitted calls remain"
        case .orderMixed: "ActorPoolError: getNext() cannot follow getNextUnordered() while calls remain"
        }
    }
}
