import RayWire
import RayWorker
import Synchronization

/// The items of a streaming task or actor call, Ray's `ObjectRefGenerator`: a function or method
/// returning an `AsyncSequence` gives its caller this at once, and `for try await ref in generator`
/// receives each item's `ObjectRef` as soon as the producer yields it, while it is still running.
///
/// - Items arrive in the order they were yielded; an error the producer throws reaches the
///   consumer after the items before it (from `next()`), as does its cancellation
///   (`TaskCancelledError`) or death (`WorkerCrashedError` once its retries are used up).
/// - With `generatorBackpressure: n` in the task's options, the producer pauses while `n` items
///   it yielded are not yet taken here.
/// - A retried producer starts over; items the stream already has are not delivered twice.
/// - Dropping the generator, or cancelling the Swift task waiting in `next()`, stops the producer
///   and frees the items not taken (an item's ref, once taken, keeps its object alive as usual).
///
/// Iterate it from one task at a time. It cannot be sent to another task or actor: pass the item
/// refs instead.
public final class ObjectRefGenerator<T: Codable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = ObjectRef<T>

    /// The streaming task's or call's id, also its end object's.
    public let id: ObjectID
    /// The end object: the number of items, or the error that ended the stream.
    private let end: ObjectRef<_StreamEnd>
    private let runtime: (any CoreRuntime)?
    private let state = Mutex(State())

    private struct State {
        /// Items received and not taken yet, from `head` on.
        var buffer: [ObjectRef<T>] = []
        var head = 0
        /// Items wrapped as refs here, and items handed to the iterating code.
        var received = 0
        var taken = 0
        var finished = false
        var dropped = false
    }

    /// What `next()` does now.
    private enum Step {
        case item(ObjectRef<T>)
        case end
        case ask(from: Int)
        case dropped
    }

    /// The generator of a streaming call just submitted as `id` (generated code; not for direct use).
    public init(_submitted id: ObjectID) {
        self.id = id
        end = ObjectRef(_created: id)
        runtime = RuntimeRegistry.current
    }

    deinit { drop() }

    /// The next item's ref; nil after the last. Throws the error that ended the stream once the
    /// items before it are taken, or `CancellationError` if the waiting Swift task is cancelled
    /// (which also stops the producer).
    public func next() async throws -> ObjectRef<T>? {
        while true {
            switch state.withLock({ Self.step(&$0) }) {
            case .item(let ref):
                return ref
            case .end:
                _ = try await end.get()
                return nil
            case .dropped:
                throw CancellationError()
            case .ask(let from):
                guard let runtime, id != .none else { throw RaySystemError.notStarted }
                let reply = try await withTaskCancellationHandler {
                    try await runtime.nextItems(stream: id, from: from)
                } onCancel: {
                    drop()
                }
                receive(reply)
            }
        }
    }

    private static func step(_ state: inout State) -> Step {
        if state.head < state.buffer.count {
            let ref = state.buffer[state.head]
            state.head += 1
            state.taken += 1
            if state.head == state.buffer.count {
                state.buffer.removeAll(keepingCapacity: true)
                state.head = 0
            }
            return .item(ref)
        }
        if state.dropped { return .dropped }
        return state.finished ? .end : .ask(from: state.taken)
    }

    /// Wraps the items a reply brought: this process holds each from now on. After a drop they
    /// are not wrapped, since the node released them with the rest.
    private func receive(_ reply: StreamItems) {
        state.withLock { state in
            guard !state.dropped else { return }
            for item in reply.items { state.buffer.append(ObjectRef(_created: item)) }
            state.received += reply.items.count
            if reply.finished { state.finished = true }
        }
    }

    /// Stops consuming: the items not wrapped here are freed, and the producer stops.
    private func drop() {
        let received: Int? = state.withLock { state in
            guard !state.dropped else { return nil }
            state.dropped = true
            return state.received
        }
        guard let received, let runtime, id != .none else { return }
        runtime.dropStream(id, received: received)
    }

    /// Cancels the producer (Ray's `ray.cancel` on a generator): the items it yielded before still
    /// arrive, then `next()` throws `TaskCancelledError`.
    public func cancel(recursive: Bool = true) {
        guard let runtime, id != .none else { return }
        runtime.cancel(id, force: false, recursive: recursive)
    }

    /// The items' values, each fetched when its ref arrives.
    public var values: AsyncThrowingMapSequence<ObjectRefGenerator<T>, T> {
        map { ref in try await ref.get() }
    }

    public func makeAsyncIterator() -> Iterator { Iterator(generator: self) }

    /// Iterates the generator (`for try await ref in generator`).
    public struct Iterator: AsyncIteratorProtocol {
        let generator: ObjectRefGenerator<T>

        public mutating func next() async throws -> ObjectRef<T>? { try await generator.next() }
    }
}

extension Ray {
    /// Cancels a streaming task or call (see `ObjectRefGenerator.cancel`).
    public func cancel<T>(_ generator: ObjectRefGenerator<T>, recursive: Bool = true) {
        generator.cancel(recursive: recursive)
    }
}
