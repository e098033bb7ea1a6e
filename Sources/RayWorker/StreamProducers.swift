import RayWire
import Synchronization

/// The streams this worker produces: how far each consumer has got (backpressure), how many of the
/// node's acknowledgements came back (pacing), and whether the consumer is gone. Producers read it
/// from their own tasks; the node's `streamProgress` messages update it on the event loop.
final class StreamProducers: Sendable {
    /// A producer asks the node to acknowledge every `ackEvery`-th item, and waits for the
    /// acknowledgement of the one before: at most two such batches are in flight, so a producer
    /// faster than the node pauses instead of queueing without end, and the worker's loop gets to
    /// read (NIO runs queued tasks until none is left before it reads, and a producer that never
    /// waits keeps queueing them), so a stop or cancel reaches it at once.
    static let ackEvery = 64

    private enum Goal {
        case consumed(Int)
        case acks(Int)
    }

    private struct Producer {
        var consumed = 0
        var acks = 0
        var stopped = false
        var waiter: (goal: Goal, continuation: CheckedContinuation<Bool, Never>)?

        func reached(_ goal: Goal) -> Bool {
            switch goal {
            case .consumed(let count): consumed >= count
            case .acks(let count): acks >= count
            }
        }
    }

    private let producers = Mutex<[RayID: Producer]>([:])

    /// Whether the producer of `stream` may go on after yielding its first `produced` items: at
    /// once without backpressure, else once fewer than `backpressure` are unconsumed. False when
    /// the consumer is gone or the producer's task was cancelled.
    func mayContinue(_ stream: RayID, produced: Int, backpressure: Int?) async -> Bool {
        guard let backpressure else { return !(producers.withLock { $0[stream]?.stopped } ?? false) }
        return await wait(stream, until: .consumed(produced - backpressure + 1))
    }

    /// Waits until the node has acknowledged `count` items of `stream` (or it stopped).
    func acknowledged(_ stream: RayID, count: Int) async {
        _ = await wait(stream, until: .acks(count))
    }

    private func wait(_ stream: RayID, until goal: Goal) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now: Bool? = producers.withLock { all in
                    var producer = all[stream] ?? Producer()
                    if producer.stopped || Task.isCancelled { return false }
                    if producer.reached(goal) { return true }
                    producer.waiter = (goal, continuation)
                    all[stream] = producer
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = producers.withLock { $0[stream]?.waiter.take() }
            waiter?.continuation.resume(returning: false)
        }
    }

    /// A producer of `stream` starts (its first item, on each attempt): progress for it counts
    /// from now.
    func begin(_ stream: RayID) {
        producers.withLock { all in if all[stream] == nil { all[stream] = Producer() } }
    }

    /// The node's word on a stream (an acknowledgement): its consumer has taken `consumed` items,
    /// or is gone (`stop`). An acknowledgement for a stream that has ended here is dropped (it
    /// would otherwise leave an entry behind per stream); a stop is kept, as it may come before
    /// the first item.
    func progress(_ stream: RayID, consumed: Int, stop: Bool) {
        let resumed = producers.withLock { all -> (Bool, CheckedContinuation<Bool, Never>)? in
            guard var producer = all[stream] ?? (stop ? Producer() : nil) else { return nil }
            producer.consumed = max(producer.consumed, consumed)
            producer.acks += 1
            producer.stopped = producer.stopped || stop
            var resumed: (Bool, CheckedContinuation<Bool, Never>)?
            if let waiter = producer.waiter, producer.stopped || producer.reached(waiter.goal) {
                resumed = (!producer.stopped, waiter.continuation)
                producer.waiter = nil
            }
            all[stream] = producer
            return resumed
        }
        if let (goOn, continuation) = resumed { continuation.resume(returning: goOn) }
    }

    /// The task or call producing `stream` has ended.
    func ended(_ stream: RayID) {
        let waiter = producers.withLock { $0.removeValue(forKey: stream)?.waiter }
        waiter?.continuation.resume(returning: false)
    }
}
