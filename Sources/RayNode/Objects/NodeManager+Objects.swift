import NIOCore
import RayWire

/// One `get` call waiting for its objects.
private final class GetRequest {
    var results: [ObjectPayload?]
    var missing: Int
    var done = false
    var timer: Scheduled<Void>?

    init(count: Int) {
        results = Array(repeating: nil, count: count)
        missing = count
    }

    /// The reply when `failure` arrived before the rest: the ready results, and the failure in
    /// every other place, so the caller, reading in order, throws it at the latest there.
    func failedEarly(_ failure: ObjectPayload) -> [ObjectPayload] {
        results.map { $0 ?? failure }
    }
}

/// One `wait` call waiting for enough objects.
private final class WaitRequest {
    /// Positions of ready objects in the request.
    package var ready: Set<Int> = []
    var done = false
    var timer: Scheduled<Void>?
}

extension NodeManager {
    package func getOnLoop(_ ids: [ObjectID], timeoutMillis: Int64, caller: TaskID, reply: @escaping ([ObjectPayload]?) -> Void) {
        loop.assertInEventLoop()
        let request = GetRequest(count: ids.count)
        for (index, id) in ids.enumerated() {
            guard let payload = objects.payload(id) else { continue }
            // As Ray's: a failed object fails the whole get at once, without waiting for the rest.
            if case .error = payload, request.missing > 1 { return reply(request.failedEarly(payload)) }
            request.results[index] = payload
            request.missing -= 1
        }
        if request.missing == 0 { return reply(request.results.map { $0! }) }
        block(caller)
        let complete: ([ObjectPayload]?) -> Void = { [self] results in
            guard !request.done else { return }
            request.done = true
            request.timer?.cancel()
            unblock(caller)
            reply(results)
        }
        for (index, id) in ids.enumerated() where request.results[index] == nil {
            onReady(id) { payload in
                guard !request.done, request.results[index] == nil else { return }
                if case .error = payload, request.missing > 1 { return complete(request.failedEarly(payload)) }
                request.results[index] = payload
                request.missing -= 1
                if request.missing == 0 { complete(request.results.map { $0! }) }
            }
        }
        if timeoutMillis >= 0, !request.done {
            let bound = NIOLoopBound(complete, eventLoop: loop)
            request.timer = loop.scheduleTask(in: .milliseconds(timeoutMillis)) { bound.value(nil) }
        }
    }

    /// `get` for the embedded driver, which maps large values from this node's store: answers once
    /// it holds them (asking again if their holders died meanwhile).
    package func getLocally(_ ids: [ObjectID], timeoutMillis: Int64, caller: TaskID, reply: @escaping ([ObjectPayload]?) -> Void) {
        getOnLoop(ids, timeoutMillis: timeoutMillis, caller: caller) { [self] results in
            withLocalCopies(results, onLost: { [self] in getLocally(ids, timeoutMillis: timeoutMillis, caller: caller, reply: reply) }, reply)
        }
    }

    /// Answers with the positions of the first ready objects once `numReturns` are ready (scanning
    /// stops there), or with whatever is ready when the timeout passes.
    package func waitOnLoop(_ ids: [ObjectID], numReturns: Int, timeoutMillis: Int64, caller: TaskID, reply: @escaping ([Int]) -> Void) {
        loop.assertInEventLoop()
        let request = WaitRequest()
        for (index, id) in ids.enumerated() where objects.payload(id) != nil {
            request.ready.insert(index)
            if request.ready.count >= numReturns { break }
        }
        if request.ready.count >= numReturns || timeoutMillis == 0 { return reply(request.ready.sorted()) }
        block(caller)
        let complete: () -> Void = { [self] in
            guard !request.done else { return }
            request.done = true
            request.timer?.cancel()
            unblock(caller)
            reply(request.ready.sorted())
        }
        for (index, id) in ids.enumerated() where !request.ready.contains(index) {
            onReady(id) { _ in
                guard !request.done else { return }
                request.ready.insert(index)
                if request.ready.count >= numReturns { complete() }
            }
        }
        if timeoutMillis > 0, !request.done {
            let bound = NIOLoopBound(complete, eventLoop: loop)
            request.timer = loop.scheduleTask(in: .milliseconds(timeoutMillis)) { bound.value() }
        }
    }
}
