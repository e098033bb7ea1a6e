import RayWire

/// Streaming tasks and calls: items become objects as they are yielded, held for the consumer,
/// who asks for them in order; backpressure and drops reach the producer.
extension NodeManager {
    /// A streaming task or call `id` was submitted by `owner` (nil: the embedded driver).
    func openStream(_ id: RayID, _ streaming: StreamingReturns, owner: WorkerHandle?) {
        streams.open(id, ownerID: owner?.id ?? 0, backpressure: streaming.backpressure)
        onReady(id) { [self] _ in
            streams.finish(id)
            answerStreamRequest(id)
        }
    }

    /// The producer yielded item `index`, stored as `item`; it waits for an acknowledgement of
    /// some (`wantsAck`), which paces it to this loop.
    func itemYielded(_ stream: RayID, index: Int, item: ObjectID, _ payload: ObjectPayload, from worker: WorkerHandle, wantsAck: Bool) {
        noteRemoteCopy(payload, from: worker)
        switch streams.yielded(stream, index: index, item: item, producerID: worker.id) {
        case .unwanted:
            discardStorage(of: payload)
            send(.streamProgress(stream, consumed: 0, stop: true), to: worker)
        case .duplicate:
            discardStorage(of: payload)
            if wantsAck { acknowledge(stream, to: worker) }
        case .stored(let ownerID, let newProducer):
            createObject(item, holder: ownerID == 0 ? nil : workers[ownerID])
            finishObject(item, payload)
            // A retried producer hears how far the consumer got (its backpressure counts from there).
            if wantsAck || (newProducer && index > 0) { acknowledge(stream, to: worker) }
            answerStreamRequest(stream)
        }
    }

    private func acknowledge(_ stream: RayID, to worker: WorkerHandle) {
        send(.streamProgress(stream, consumed: streams[stream]?.consumed ?? 0, stop: false), to: worker)
    }

    /// The consumer took `from` items and asks for more: answered at once when there are some (or
    /// the stream ended), else when the next comes.
    package func nextItemsOnLoop(_ stream: RayID, from: Int, caller: TaskID, reply: @escaping (StreamItems) -> Void) {
        loop.assertInEventLoop()
        if streams.consumed(stream, upTo: from), let progress = streams[stream], let producer = progress.producerID.flatMap({ workers[$0] }) {
            send(.streamProgress(stream, consumed: progress.consumed, stop: false), to: producer)
        }
        if let items = streams.take(stream) { return reply(items) }
        block(caller)
        streams.park(stream, StreamTable.Request(caller: caller, reply: reply))
    }

    private func answerStreamRequest(_ stream: RayID) {
        guard let (request, items) = streams.answerable(stream) else { return }
        unblock(request.caller)
        request.reply(items)
    }

    /// The consumer is gone after wrapping `received` items: the rest are released, a waiting
    /// request ends, and an unfinished producer is cancelled and told to stop.
    package func dropStreamOnLoop(_ id: RayID, received: Int, holder: WorkerHandle?) {
        loop.assertInEventLoop()
        guard let (stream, unreceived) = streams.drop(id, received: received) else { return }
        releaseRefsOnLoop(unreceived, holder: holder)
        closeStream(id, stream)
    }

    /// A closed stream's loose ends: its parked request, and its producer if still running.
    private func closeStream(_ id: RayID, _ stream: StreamTable.Stream) {
        if let request = stream.request {
            unblock(request.caller)
            request.reply(StreamItems(items: [], finished: true))
        }
        guard !stream.finished else { return }
        cancelOnLoop(id, force: false, recursive: true)
        if let producer = stream.producerID.flatMap({ workers[$0] }) {
            send(.streamProgress(id, consumed: stream.consumed, stop: true), to: producer)
        }
    }

    /// A consumer process died: its streams close (its holds, items included, are released with
    /// the rest of its references).
    func closeStreams(ownedBy worker: WorkerHandle) {
        for id in streams.owned(by: worker.id) {
            guard let (stream, _) = streams.drop(id, received: Int.max) else { continue }
            closeStream(id, stream)
        }
    }
}
