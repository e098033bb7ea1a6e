import RayWire

/// Streaming tasks and actor calls in flight, by id (the call's own id): the items each has
/// yielded, how many its consumer has taken, and the consumer's open request. A stream is opened
/// when its call is submitted and closed when its consumer drops it or dies.
package struct StreamTable {
    /// A consumer's request waiting for items.
    package struct Request {
        /// The consumer's task (lends its CPU back while it waits).
        package let caller: TaskID
        package let reply: (StreamItems) -> Void
    }

    /// One stream's state.
    package struct Stream {
        /// The process whose refs the items are (0: the embedded driver).
        package let ownerID: Int
        package let backpressure: Int?
        /// Every item yielded, by index.
        package var items: [ObjectID] = []
        /// Items already sent to the consumer.
        package var handedOut = 0
        /// Items the consumer has taken (what its last request said).
        package var consumed = 0
        /// The call's own result (the stream's end) is ready.
        package var finished = false
        /// The worker yielding items (the latest attempt's).
        package var producerID: Int?
        package var request: Request?
    }

    /// What becomes of a yielded item.
    package enum YieldOutcome: Equatable {
        /// Stored as the next item; the consumer's refs are `ownerID`'s. `newProducer`: the first
        /// item from this worker (a retry), which must hear the consumer's progress.
        case stored(ownerID: Int, newProducer: Bool)
        /// A retried producer yielded an item the stream already has: dropped.
        case duplicate
        /// Nobody consumes it (the stream was dropped, or never opened): dropped, and the
        /// producer should stop.
        case unwanted
    }

    /// At most this many items go in one reply.
    static let maxBatch = 4096

    private var streams: [RayID: Stream] = [:]

    package init() {}

    package var count: Int { streams.count }

    package subscript(id: RayID) -> Stream? { streams[id] }

    package mutating func open(_ id: RayID, ownerID: Int, backpressure: Int?) {
        streams[id] = Stream(ownerID: ownerID, backpressure: backpressure)
    }

    /// Runs `body` on the stream in place (a copy would copy its items on every append).
    private mutating func update<R>(_ id: RayID, _ body: (inout Stream) -> R) -> R? {
        guard streams[id] != nil else { return nil }
        return body(&streams[id]!)
    }

    /// Records item `index` (stored as `item`) from worker `producerID`.
    package mutating func yielded(_ id: RayID, index: Int, item: ObjectID, producerID: Int) -> YieldOutcome {
        update(id) { stream in
            let newProducer = stream.producerID != producerID
            stream.producerID = producerID
            guard index == stream.items.count else { return .duplicate }
            stream.items.append(item)
            return .stored(ownerID: stream.ownerID, newProducer: newProducer)
        } ?? .unwanted
    }

    /// The consumer has taken the first `from` items. Returns whether that is news the producer
    /// waits for (backpressure).
    package mutating func consumed(_ id: RayID, upTo from: Int) -> Bool {
        update(id) { stream in
            guard from > stream.consumed else { return false }
            stream.consumed = min(from, stream.handedOut)
            return stream.backpressure != nil
        } ?? false
    }

    /// Items not yet sent to the consumer (at most `maxBatch`), marked sent; or the end when none
    /// are left and the stream has finished; nil while the consumer must wait.
    package mutating func take(_ id: RayID) -> StreamItems? {
        update(id) { stream in
            let available = stream.items.count - stream.handedOut
            guard available > 0 else { return stream.finished ? StreamItems(items: [], finished: true) : nil }
            let end = stream.handedOut + min(available, Self.maxBatch)
            let items = Array(stream.items[stream.handedOut..<end])
            stream.handedOut = end
            return StreamItems(items: items, finished: stream.finished && end == stream.items.count)
        } ?? StreamItems(items: [], finished: true)
    }

    /// Parks the consumer's request until items come or the stream ends.
    package mutating func park(_ id: RayID, _ request: Request) {
        streams[id]?.request = request
    }

    /// The parked request and what it gets now, if it can be answered.
    package mutating func answerable(_ id: RayID) -> (Request, StreamItems)? {
        guard let request = streams[id]?.request, let items = take(id) else { return nil }
        streams[id]?.request = nil
        return (request, items)
    }

    /// The stream's end object is ready.
    package mutating func finish(_ id: RayID) {
        streams[id]?.finished = true
    }

    /// Closes the stream: its state, with the items the consumer never wrapped (from `received`
    /// on), whose refs the node must release.
    package mutating func drop(_ id: RayID, received: Int) -> (stream: Stream, unreceived: [ObjectID])? {
        guard let stream = streams.removeValue(forKey: id) else { return nil }
        let start = min(max(received, 0), stream.items.count)
        return (stream, Array(stream.items[start...]))
    }

    /// The streams whose consumer is this process.
    package func owned(by ownerID: Int) -> [RayID] {
        streams.filter { $0.value.ownerID == ownerID }.map(\.key)
    }
}
