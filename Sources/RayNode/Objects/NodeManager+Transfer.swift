import NIOCore
import RayWire

/// Objects across nodes. A large value lives in the store of the node whose process made it; a
/// process on another node that needs it (a task's argument, a `get`, an actor call) gets it once
/// that node's store holds a copy, pulled in chunks from a node that has one and cached there until
/// the object is freed everywhere. Messages to a worker wait, in order, for the copies they need.
extension NodeManager {
    // MARK: Where copies are

    /// A remote worker stored a large value in its own node's store.
    func noteRemoteCopy(_ payload: ObjectPayload, from worker: WorkerHandle) {
        guard !worker.node.isLocal, let shared = payload.sharedObject else { return }
        locations.storedRemotely(shared, on: worker.node)
    }

    func hasCopy(_ id: ObjectID, on node: NodeRecord) -> Bool { locations.has(id, on: node) }

    /// Copies held per node (objects, bytes), by node id: this node's shared objects in memory,
    /// and every recorded copy elsewhere.
    package func storedPerNode() -> [String: (objects: Int, bytes: Int)] {
        var stored: [String: (objects: Int, bytes: Int)] = [localNode.id: (objects.sharedObjects, objects.sharedBytes)]
        for (id, holders) in locations.remote {
            let size = objects.payload(id)?.size ?? 0
            for node in holders where !node.isLocal {
                stored[node.id, default: (0, 0)].objects += 1
                stored[node.id, default: (0, 0)].bytes += size
            }
        }
        return stored
    }

    // MARK: Delivering

    /// Sends a message to a worker once its node's store holds every large value the message
    /// carries (at once in the common case), after the messages sent to it before. If a value's
    /// holders died meanwhile, `onLost` runs instead (to ask again once the object is rebuilt or
    /// marked lost); without it the message goes anyway and its reader reports the object lost.
    package func send(_ message: WireMessage, to worker: WorkerHandle, onLost: (() -> Void)? = nil) {
        let target = worker.storeNode(local: localNode)
        if target.isLocal, locations.allLocal, worker.deferred.isEmpty { return transmit(message, to: worker) }
        let missing = Self.sharedValues(in: message).filter { !hasCopy($0.id, on: target) }
        if missing.isEmpty, worker.deferred.isEmpty { return transmit(message, to: worker) }
        let entry = DeferredMessage(message, onLost: onLost)
        worker.deferred.append(entry)
        ensureCopies(missing, on: target) { [self] lost in
            entry.outcome = lost ? .lost : .ready
            drainDeferred(worker)
        }
    }

    private func transmit(_ message: WireMessage, to worker: WorkerHandle) {
        worker.send(worker.sharesMemory ? message : inliningShared(message))
        scheduleFlush()
    }

    private func drainDeferred(_ worker: WorkerHandle) {
        while let first = worker.deferred.first, first.outcome != .waiting {
            worker.deferred.removeFirst()
            if first.outcome == .lost, let onLost = first.onLost {
                onLost()
            } else {
                transmit(first.message, to: worker)
            }
        }
    }

    /// Calls `done` once this node's store holds every large value in `payloads` (for the embedded
    /// driver, which maps them); if a value's holders died meanwhile, `onLost` runs instead.
    func withLocalCopies(_ payloads: [ObjectPayload]?, onLost: @escaping () -> Void, _ done: @escaping ([ObjectPayload]?) -> Void) {
        guard let payloads, !locations.allLocal else { return done(payloads) }
        let missing = payloads.compactMap(Self.sharedValue).filter { !hasCopy($0.id, on: localNode) }
        ensureCopies(missing, on: localNode) { lost in
            if lost { onLost() } else { done(payloads) }
        }
    }

    /// Calls `done` once every copy was made or failed, with whether some value's holders were gone.
    private func ensureCopies(_ values: [(id: ObjectID, size: Int)], on node: NodeRecord, done: @escaping (_ lost: Bool) -> Void) {
        guard !values.isEmpty else { return done(false) }
        var left = values.count
        var lost = false
        for value in values {
            ensureCopy(value.id, size: value.size, on: node) { result in
                if case .sourceLost = result { lost = true }
                left -= 1
                if left == 0 { done(lost) }
            }
        }
    }

    /// The shared-memory values a message carries.
    static func sharedValues(in message: WireMessage) -> [(id: ObjectID, size: Int)] {
        switch message {
        case .execute(let spec): spec.args.compactMap(sharedValue)
        case .actorCall(let call): call.args.compactMap(sharedValue)
        case .hostActor(let spec): spec.args.compactMap(sharedValue)
        case .getReply(_, let results?): results.compactMap(sharedValue)
        default: []
        }
    }

    private static func sharedValue(_ arg: TaskArg) -> (id: ObjectID, size: Int)? {
        guard case .value(let value) = arg, let shared = value.shared else { return nil }
        return (shared, value.sharedSize)
    }

    private static func sharedValue(_ payload: ObjectPayload) -> (id: ObjectID, size: Int)? {
        guard case .value(let value) = payload, let shared = value.shared else { return nil }
        return (shared, value.sharedSize)
    }

    // MARK: Copying

    /// Makes sure `node`'s store holds the object, pulling it from a live node that has one; `done`
    /// hears how that ended.
    func ensureCopy(_ id: ObjectID, size: Int, on node: NodeRecord, done: @escaping (CopyResult) -> Void) {
        if hasCopy(id, on: node) { return done(.copied) }
        if locations.joinPull(id, to: node, waiter: done) { return }
        guard node.alive else { return done(.failed("node \(node.id) is dead")) }
        guard let source = copySource(id) else { return done(.sourceLost("no live node holds object \(id)")) }
        locations.startPull(id, to: node, from: source, waiter: done)
        if node.isLocal {
            guard let puller = objectPuller, let server = source.objectServer else {
                return copyPulled(id, to: node, .failed("this node cannot pull objects"))
            }
            puller.pull(id, size: size, host: server.host, port: server.port).hop(to: loop).assumeIsolated().whenComplete { [self] result in
                guard case .failure(let error) = result else { return copyPulled(id, to: node, .copied) }
                let lost = (error as? ObjectPullError)?.sourceLost ?? false
                copyPulled(id, to: node, lost ? .sourceLost("\(error)") : .failed("\(error)"))
            }
        } else if source.isLocal, let port = objectServerPort {
            // "" stands for the head's address as the node knows it.
            node.daemon?.writeAndFlush(WireMessage.control(.pullObject(id: id, size: size, host: "", port: port)), promise: nil)
        } else if let server = source.objectServer {
            node.daemon?.writeAndFlush(WireMessage.control(.pullObject(id: id, size: size, host: server.host, port: server.port)), promise: nil)
        } else {
            copyPulled(id, to: node, .failed("object \(id) cannot be served from node \(source.id)"))
        }
    }

    /// A live node whose store holds the object and serves it.
    private func copySource(_ id: ObjectID) -> NodeRecord? {
        guard let holders = locations.holders(id) else { return config.objectDirectory != nil ? localNode : nil }
        return holders.first { $0.alive && ($0.isLocal ? objectServerPort != nil : $0.objectServer != nil) }
    }

    /// A copy arrived in `node`'s store (or did not): record it, or drop it if the object was freed
    /// meanwhile; then tell who waited. A source that could not provide the object loses its copy:
    /// without others the object is rebuilt or marked lost, so asking again makes progress.
    package func copyPulled(_ id: ObjectID, to node: NodeRecord, _ result: CopyResult) {
        let pending = locations.endPull(id, to: node)
        switch result {
        case .copied:
            if node.alive, objects.payload(id) != nil {
                locations.copied(id, to: node, local: localNode)
                if node.isLocal { localCopyArrived(id) }
            } else {
                discardCopy(id, on: node)
            }
        case .failed(let reason):
            logger.warning("cannot copy object \(id) to node \(node.id): \(reason)")
        case .sourceLost(let reason):
            logger.warning("cannot copy object \(id) to node \(node.id): \(reason)")
            if let source = pending?.source {
                if !source.isLocal, source.alive { source.unreachable = (loop.now, 0) }
                copyLost(id, on: source)
            }
        }
        for waiter in pending?.waiters ?? [] { waiter(result) }
    }

    /// A node's store no longer provides the object.
    private func copyLost(_ id: ObjectID, on node: NodeRecord) {
        guard objects.payload(id) != nil else { return }
        if locations.lost(id, on: node, local: localNode) { objectLost(id, with: node) }
    }

    private func localCopyArrived(_ id: ObjectID) {
        objects.setRemote(id, false)
        guard let payload = objects.payload(id) else { return }
        ready.insert(id, payload)
        sharedOrder.append(id)
        spillIfNeeded()
    }

    // MARK: Freeing

    /// Removes the object's copies from other nodes' stores; returns whether this node's store has
    /// one (the caller's to remove).
    func discardRemoteCopies(_ id: ObjectID) -> Bool {
        guard let holders = locations.removeAll(id) else { return true }
        for node in holders where !node.isLocal { discardCopy(id, on: node) }
        return holders.contains { $0.isLocal }
    }

    private func discardCopy(_ id: ObjectID, on node: NodeRecord) {
        if node.isLocal {
            config.objectDirectory?.remove(id)
        } else {
            node.daemon?.writeAndFlush(WireMessage.control(.freeObjects([id])), promise: nil)
        }
    }

    // MARK: Losing a node

    /// A node died with its store: copies in flight to it fail, and objects held only there are
    /// rebuilt by running their tasks again, or become `ObjectLostError`s.
    package func nodeLostObjects(_ node: NodeRecord) {
        let gone = locations.nodeDied(node)
        for id in gone.pullsTo { copyPulled(id, to: node, .failed("the node died")) }
        for id in gone.lastCopies { objectLost(id, with: node) }
    }

    private func objectLost(_ id: ObjectID, with node: NodeRecord) {
        guard objects.payload(id) != nil else { return }
        if let record = lineage.removeValue(forKey: id) { return rebuild(id, by: record, lostWith: node) }
        guard let old = objects.reset(id) else { return }
        ready.remove(id)
        freeIfUnused(releaseContainedRefs(of: id, old))
        logger.warning("object \(id) was lost with node \(node.id) and cannot be rebuilt")
        finishObject(id, .error(ErrorInfo(
            kind: .objectLost,
            message: "object \(id) was lost with node \(node.id): its only copy was there, and it was not computed by a task that can run again (it was put, returned by an actor, or its task has no retries left)",
            nodeID: node.id)))
    }

    /// Runs the task that computed a lost object again (its arguments are still alive: the lineage
    /// kept them).
    private func rebuild(_ id: ObjectID, by record: TaskRecord, lostWith node: NodeRecord) {
        guard let old = objects.reset(id) else { return }
        ready.remove(id)
        freeIfUnused(releaseContainedRefs(of: id, old))
        logger.info("object \(id) was lost with node \(node.id): running task \(record.spec.name) again to rebuild it")
        if record.retriesLeft > 0 { record.retriesLeft -= 1 }
        record.spec.attempt += 1
        record.cancelled = false
        tasks[record.id] = record
        waitForArguments(record)
    }

    /// Whether a finished task's result must keep its lineage: it lives only on other nodes and the
    /// task may run again.
    func keepsLineage(_ record: TaskRecord, _ id: ObjectID, _ payload: ObjectPayload) -> Bool {
        payload.sharedObject != nil && record.retriesLeft != 0 && objects.isRemote(id)
    }
}
