import NIOCore
import RayWire
import RayPlatform

extension NodeManager {
    /// Registers an actor and starts placing it; `reply` gets nil, or the reason it was refused
    /// (name taken, resources no node has).
    package func createActorOnLoop(_ spec: ActorSpec, creator: WorkerHandle?, reply: @escaping (ErrorInfo?) -> Void) {
        loop.assertInEventLoop()
        guard !shuttingDown else { return reply(ErrorInfo(kind: .system, message: "the cluster is shutting down")) }
        if actors.nameTaken(by: spec) {
            return reply(ErrorInfo(kind: .system, message: "an actor named '\(spec.name)' already exists in namespace '\(spec.namespace)'"))
        }
        let placement = spec.resources.isEmpty ? ["CPU": 1] : spec.resources
        if let message = infeasibility(placement, spec.strategy, name: "actor \(spec.className)") {
            logger.warning("infeasible actor: \(message)")
            return reply(ErrorInfo(kind: .unschedulable, message: message, functionName: spec.className))
        }
        let record = ActorRecord(spec: spec, creatorWorkerID: creator?.id ?? 0, pool: (creator?.pool ?? defaultPool).adding(spec.environment))
        actors.add(record)
        addActorHandle(spec.actorID, holder: creator)
        pin(spec.args.flatMap(\.heldRefs))  // constructor arguments, kept for restarts
        if spec.detached, let journal = detachedActorChanged {
            journal(.alive(spec, record.pool), onLoop { reply(nil) })  // answered once it is on disk
        } else {
            reply(nil)
        }
        placeActor(record)
    }

    /// Takes the actor's resources and starts its dedicated worker, or leaves it pending.
    func placeActor(_ record: ActorRecord) {
        guard !shuttingDown, !record.isDead else { return }
        let placement = record.spec.resources.isEmpty ? ["CPU": 1] : record.spec.resources
        guard let target = leaseTargets(placement, record.spec.strategy).first else {
            record.state = .pending
            actors.waitForResources(record)
            return
        }
        target.take(record.spec.resources)
        record.holding = record.spec.resources
        record.holdingTarget = target
        guard let worker = startWorker(forActor: record.id, pool: record.pool, on: target.node) else {
            releaseHolding(record)
            markActorDead(record, ErrorInfo(kind: .actorDied, message: "the worker for actor \(record.spec.className) could not start", functionName: record.spec.className))
            return
        }
        record.state = .starting(workerID: worker.id)
    }

    /// Places actors that waited for resources, in order.
    func placePendingActors() {
        guard !actors.pending.isEmpty else { return }
        for record in actors.takePending() { placeActor(record) }
    }

    func actorReady(_ id: RayID, error: ErrorInfo?, from worker: WorkerHandle) {
        guard let record = actors[id], record.state == .starting(workerID: worker.id) else { return }
        if let error {
            logger.warning("actor \(record.spec.className) failed in its constructor: \(error.message)")
            record.killedForGood = true
            markActorDead(record, ErrorInfo(
                kind: .actorDied, errorType: error.errorType,
                message: "the actor \(record.spec.className) died in its constructor: \(error.errorType.isEmpty ? "" : error.errorType + ": ")\(error.message)",
                functionName: record.spec.className, nodeID: config.nodeID, pid: worker.pid))
            send(.shutdown, to: worker)
            return
        }
        record.state = .alive(workerID: worker.id)
        record.lastPID = worker.pid
        if record.spec.detached { detachedActorChanged?(.placed(id, remote: !worker.node.isLocal)) {} }
        pumpCalls(record)
    }

    package func actorCallOnLoop(_ call: ActorCall, holder: WorkerHandle?) {
        loop.assertInEventLoop()
        for id in call.returnIDs { createObject(id, holder: holder) }
        if let streaming = call.streaming { openStream(call.callID, streaming, owner: holder) }
        guard let record = actors[call.actorID] else {
            let error = ErrorInfo(kind: .actorDied, message: "no actor \(call.actorID) exists on this cluster", functionName: call.name)
            for id in call.returnIDs { finishObject(id, .error(error)) }
            return
        }
        if case .dead(let info) = record.state {
            for id in call.returnIDs { finishObject(id, .error(info)) }
            return
        }
        let callRecord = CallRecord(call: call, retries: record.spec.maxTaskRetries)
        pin(call.heldRefs)
        record.queue.append(callRecord)
        for dependency in call.dependencies {
            onReady(dependency) { [self] payload in
                if case .error(let info) = payload, callRecord.failedArgument == nil { callRecord.failedArgument = info }
                callRecord.missingArguments -= 1
                pumpCalls(record)
            }
        }
        pumpCalls(record)
    }

    /// Sends the actor's ready calls in order; a call waiting for an argument holds back the ones
    /// behind it, so calls run in submission order.
    func pumpCalls(_ record: ActorRecord) {
        // A worker whose connection closed is dying: calls wait for the restart (or fail with the death).
        guard case .alive(let workerID) = record.state, !record.killing, let worker = workers[workerID], !worker.dead else { return }
        while let head = record.queue.first, head.isReady {
            record.queue.removeFirst()
            if let failure = head.failedArgument {
                finishCall(head, .error(failure))
                continue
            }
            var call = head.call
            call.args = resolve(call.args)
            record.inFlight[call.callID] = head
            head.startedAt = wallMicros()
            record.inFlightOrder.append(call.callID)
            send(.actorCall(call), to: worker)
        }
    }

    /// A call's results arrived (one payload, or one per result for a method returning a tuple).
    func actorCallDone(_ id: RayID, _ payloads: [ObjectPayload], from worker: WorkerHandle) {
        guard let actorID = worker.actorID, let record = actors[actorID], let call = record.inFlight.removeValue(forKey: id) else {
            return payloads.forEach(discardStorage)
        }
        // Calls mostly finish in order: drop finished ids from the front, O(1) each.
        while let first = record.inFlightOrder.first, record.inFlight[first] == nil { record.inFlightOrder.removeFirst() }
        if call.cancelled {
            payloads.forEach(discardStorage)
            finishCall(call, .error(cancelledError(call)))
        } else {
            finishCall(call, results: payloads)
        }
        stopIfOutOfScope(record)
    }

    /// `ray.cancel` on an actor call (Ray's semantics): a call that has not started never runs; a
    /// running call of a concurrent (async) actor is cancelled in its actor (Swift task
    /// cancellation); either way its result is `TaskCancelledError`. A running call of a
    /// one-at-a-time actor runs on to its result.
    func cancelActorCall(_ id: RayID) {
        for record in actors.all where !record.isDead {
            // A call is cancelled through any of its results' refs.
            if let index = record.queue.firstIndex(where: { $0.call.callID == id || $0.call.extraReturns.contains(id) }) {
                let call = record.queue.remove(at: index)
                finishCall(call, .error(cancelledError(call)))
                return pumpCalls(record)
            }
            guard let call = record.inFlight[id] ?? record.inFlight.values.first(where: { $0.call.extraReturns.contains(id) }) else { continue }
            // The worker drops it if it has not started. A started call of a one-at-a-time actor
            // cannot be interrupted and keeps its result (Ray's); a concurrent actor's is cancelled.
            if record.spec.maxConcurrency > 1 { call.cancelled = true }
            if let workerID = record.workerID, let worker = workers[workerID] {
                send(.cancel(call.call.callID, force: false, recursive: false), to: worker)
            }
            return
        }
    }

    func cancelledError(_ call: CallRecord) -> ErrorInfo {
        ErrorInfo(kind: .cancelled, message: "actor call \(call.call.name) was cancelled", functionName: call.call.name, nodeID: config.nodeID)
    }

    /// A call is over: its result is stored and its arguments may go.
    func finishCall(_ call: CallRecord, _ payload: ObjectPayload) {
        finishCall(call, results: [payload])
    }

    /// A call is over with these results: one per result object, or one (an error) for all.
    func finishCall(_ call: CallRecord, results: [ObjectPayload]) {
        let ids = call.call.returnIDs
        let payloads = results.count == ids.count ? results : ids.map { _ in results[0] }
        if results.count != ids.count, case .value = results[0] {
            logger.error("actor call \(call.call.name) returned \(results.count) results for \(ids.count) refs")
        }
        if let record = actors[call.call.actorID] {
            remember(call.call.callID, call.taskState(
                payloads[0], node: record.holdingTarget?.node.id, pid: record.lastPID, attempt: Int(call.call.attempt), spellingID: false))
        }
        for (id, payload) in zip(ids, payloads) { finishObject(id, payload) }
        unpin(call.call.heldRefs)
    }

    /// The actor's process died: restart it if it may, retrying the calls it was running if they
    /// may; otherwise it is dead and every call fails with `ActorDiedError`.
    func actorWorkerDied(_ record: ActorRecord, worker: WorkerHandle, code: Int32) {
        guard record.workerID == worker.id else { return }
        record.killing = false
        releaseHolding(record)
        let cause = describeExit(code)
        let restart = !shuttingDown && !record.killedForGood && record.restartsLeft != 0
        let died = ErrorInfo(
            kind: .actorDied, message: "the actor \(record.spec.className) died: its process (pid \(worker.pid)) \(cause)\(restart ? "; it is restarting" : "")",
            functionName: record.spec.className, nodeID: config.nodeID, pid: worker.pid)
        var retried: [CallRecord] = []
        for call in record.takeInFlight() {
            if restart && call.retriesLeft != 0 {
                if call.retriesLeft > 0 { call.retriesLeft -= 1 }
                call.call.attempt += 1
                retried.append(call)
            } else {
                finishCall(call, .error(died))
            }
        }
        guard restart else {
            markActorDead(record, died)
            return
        }
        if record.restartsLeft > 0 { record.restartsLeft -= 1 }
        record.restarts += 1
        journalRestart(record)
        logger.warning("actor \(record.spec.className) died (\(cause)); restarting it (\(record.restartsLeft < 0 ? "unlimited" : String(record.restartsLeft)) restarts left)")
        for call in retried.reversed() { record.queue.prepend(call) }
        record.state = .pending
        placeActor(record)
    }

    func markActorDead(_ record: ActorRecord, _ info: ErrorInfo) {
        guard !record.isDead else { return }
        record.state = .dead(info)
        releaseHolding(record)
        for call in record.takeInFlight() { finishCall(call, .error(info)) }
        while let call = record.queue.popFirst() { finishCall(call, .error(info)) }
        unpin(record.spec.args.flatMap(\.heldRefs))
        actors.releaseName(of: record)
        if record.spec.detached { detachedActorChanged?(.gone(record.id)) {} }
        requestSchedule()
    }

    package func killActorOnLoop(_ id: RayID, noRestart: Bool) {
        loop.assertInEventLoop()
        guard let record = actors[id], !record.isDead else { return }
        if noRestart { record.killedForGood = true }
        if let workerID = record.workerID, let worker = workers[workerID] {
            record.killing = true
            logger.info("killing actor \(record.spec.className) (pid \(worker.pid))")
            terminate(worker)
        } else if noRestart {
            markActorDead(record, ErrorInfo(kind: .actorDied, message: "the actor \(record.spec.className) was killed", functionName: record.spec.className))
        }
    }

    /// The live actor named so; the asker holds a new handle to it (its process counts it as created).
    /// Gives back the resources the actor holds on its node.
    func releaseHolding(_ record: ActorRecord) {
        record.holdingTarget?.give(record.holding)
        record.holding = [:]
        record.holdingTarget = nil
    }

    package func lookupActorOnLoop(name: String, namespace: String, asker: WorkerHandle?) -> ActorSpec? {
        guard let record = actors.named(name, namespace: namespace) else { return nil }
        addActorHandle(record.id, holder: asker)
        return record.spec
    }

    /// One more handle to the actor, held by `holder` (nil: the driver). A detached actor's count
    /// starts again from zero.
    func addActorHandle(_ id: RayID, holder: WorkerHandle?) {
        if objects.contains(id) {
            addRefsOnLoop([id], holder: holder)
        } else {
            objects.createActorHandle(id)
            holder?.holds[id, default: 0] += 1
        }
    }

    /// No handle to the actor remains anywhere: unless detached, it stops once its queued and running
    /// calls are done (as in Ray), and later calls fail with `ActorDiedError`.
    func actorOutOfScope(_ id: RayID) {
        guard let record = actors[id], !record.spec.detached, !record.isDead else { return }
        record.outOfScope = true
        stopIfOutOfScope(record)
    }

    /// Stops an out-of-scope actor once it has no calls left.
    func stopIfOutOfScope(_ record: ActorRecord) {
        guard record.outOfScope, record.queue.isEmpty, record.inFlight.isEmpty, !record.isDead else { return }
        logger.debug("actor \(record.spec.className) has no handles left; stopping it")
        record.killedForGood = true
        let info = ErrorInfo(kind: .actorDied, message: "the actor \(record.spec.className) is dead because all references to it were removed",
                             functionName: record.spec.className)
        guard let workerID = record.workerID, let worker = workers[workerID] else { return markActorDead(record, info) }
        markActorDead(record, info)
        send(.shutdown, to: worker)
    }

    /// A creator is gone: its non-detached actors go too.
    func killActorsCreated(by workerID: Int) {
        for record in actors.all where record.creatorWorkerID == workerID && !record.spec.detached && !record.isDead {
            killActorOnLoop(record.id, noRestart: true)
        }
    }
}
