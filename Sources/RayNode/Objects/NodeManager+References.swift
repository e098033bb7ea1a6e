import RayWire

/// Reference counting: which objects stay alive, and freeing the rest.
extension NodeManager {
    /// Calls `waiter` once the object is finished (at once if it is).
    func onReady(_ id: ObjectID, _ waiter: @escaping (ObjectPayload) -> Void) {
        // Every object is registered by its creator before a ref to it can reach anyone: one the
        // table does not know was freed (its job or every holder gone) or never existed. Waiting
        // for it would be forever. But a restarted head learns of the objects other nodes kept as
        // those nodes rejoin: until its recovery window ends, an unknown one may still come.
        guard objects.contains(id) else {
            if isRecovering { return afterRecoveryWindowOnLoop { [self] in onReady(id, waiter) } }
            return waiter(.error(unknownObject(id)))
        }
        if let payload = objects.whenReady(id, waiter) { waiter(payload) }
    }

    func unknownObject(_ id: ObjectID) -> ErrorInfo {
        ErrorInfo(
            kind: .objectLost,
            message: "object \(id) is not in the cluster: it was freed when no reference to it remained (its owner's job may have ended), it was lost with a head that restarted (small values live in the head), or the ref was made up; nothing will produce it",
            nodeID: config.nodeID)
    }

    /// `holder` (nil: the driver) creates an object it holds a reference to.
    func createObject(_ id: ObjectID, holder: WorkerHandle?) {
        objects.create(id)
        holder?.holds[id, default: 0] += 1
    }

    package func putOnLoop(_ id: ObjectID, _ payload: ObjectPayload, holder: WorkerHandle?) {
        loop.assertInEventLoop()
        createObject(id, holder: holder)
        finishObject(id, payload)
    }

    package func addRefsOnLoop(_ ids: [ObjectID], holder: WorkerHandle?) {
        loop.assertInEventLoop()
        for id in ids where objects.addHolder(id) {
            holder?.holds[id, default: 0] += 1
        }
    }

    package func releaseRefsOnLoop(_ ids: [ObjectID], holder: WorkerHandle?) {
        loop.assertInEventLoop()
        for id in ids {
            if let holder {
                guard let count = holder.holds[id], count > 0 else { continue }
                holder.holds[id] = count > 1 ? count - 1 : nil
            }
            if objects.releaseHolder(id) { freeIfUnused([id]) }
        }
    }

    /// A dead process holds nothing any more.
    func releaseHolds(of worker: WorkerHandle) {
        let holds = worker.holds
        worker.holds = [:]
        for (id, count) in holds {
            for _ in 0..<count { objects.removeHolder(id) }
            freeIfUnused([id])
        }
    }

    /// Keeps objects alive for a pending task, call or actor.
    func pin(_ ids: [ObjectID]) {
        for id in ids { objects.pin(id) }
    }

    func unpin(_ ids: [ObjectID]) {
        for id in ids { objects.unpin(id) }
        freeIfUnused(ids)
    }

    /// Frees the objects nothing keeps alive, and then what only they kept alive.
    func freeIfUnused(_ ids: [ObjectID]) {
        var work = ids
        while let id = work.popLast() {
            guard let (payload, spilled, isActorHandle) = objects.freeIfUnused(id) else { continue }
            if isActorHandle {
                actorOutOfScope(id)
                continue
            }
            ready.remove(id)
            if spilled, let shared = payload.sharedObject {
                _ = discardRemoteCopies(shared)
                config.objectDirectory?.removeSpilled(shared)
            } else {
                discardStorage(of: payload)
            }
            work.append(contentsOf: releaseContainedRefs(of: id, payload))
            if let record = lineage.removeValue(forKey: id) {
                for held in record.spec.heldRefs {
                    objects.unpin(held)
                    work.append(held)
                }
            }
        }
        if storeMarkedFull { updateFullMarker() }
    }

    /// A payload nobody will read: its shared-memory file goes to the recycled files (the oldest of
    /// which are removed beyond a few).
    func discardStorage(of payload: ObjectPayload) {
        guard let shared = payload.sharedObject, discardRemoteCopies(shared), let directory = config.objectDirectory else { return }
        guard objects.sharedBytes + payload.size <= directory.capacity,
              let name = directory.recycle(shared, size: payload.size) else { return directory.remove(shared) }
        recycledFiles.append(name)
        while recycledFiles.count > Self.maxRecycledFiles { directory.removeRecycled(recycledFiles.removeFirst()) }
    }

    /// Keeps the store under its capacity: moves the oldest objects still in shared memory to the
    /// spill folder (readers then map them from disk; a reader that mapped one keeps its mapping).
    func spillIfNeeded() {
        guard let directory = config.objectDirectory else { return }
        while objects.sharedBytes > directory.capacity, let oldest = sharedOrder.first {
            sharedOrder.removeFirst()
            guard objects.isInSharedMemory(oldest) else { continue }
            if directory.spill(oldest) {
                objects.markSpilled(oldest)
            } else {
                logger.warning("cannot spill object \(oldest) to \(directory.spillPath)")
            }
        }
        // Files kept for reuse count against the capacity too.
        while !recycledFiles.isEmpty, objects.sharedBytes > directory.capacity / 2 {
            directory.removeRecycled(recycledFiles.removeFirst())
        }
        updateFullMarker()
    }

    /// Tells writers whether the store is over capacity with nothing left to spill (they wait, then
    /// throw `ObjectStoreFullError`).
    func updateFullMarker() {
        guard let directory = config.objectDirectory else { return }
        let full = objects.sharedBytes > directory.capacity
        guard full != storeMarkedFull else { return }
        storeMarkedFull = full
        directory.setFull(full)
        if full {
            logger.warning("object store full: \(objects.sharedBytes) of \(directory.capacity) bytes in memory and nothing can be spilled to \(directory.spillPath)")
        }
    }
}
