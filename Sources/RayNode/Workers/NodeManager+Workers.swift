import NIOCore
import RayPlatform
import RayWire

extension NodeManager {
    /// The node manager's own machine.
    package var localNode: NodeRecord { nodes[0] }

    /// Starts one pooled worker process for tasks.
    func startWorker(pool: WorkerPool, on node: NodeRecord) {
        _ = launchWorker(actorID: nil, pool: pool, on: node)
    }

    /// Starts a worker dedicated to one actor.
    func startWorker(forActor actorID: RayID, pool: WorkerPool, on node: NodeRecord) -> WorkerHandle? {
        launchWorker(actorID: actorID, pool: pool, on: node)
    }

    /// Starts a worker process: here, with its channel and output pipes, or through a remote node's
    /// daemon (the worker then connects back over the network).
    private func launchWorker(actorID: RayID?, pool: WorkerPool, on node: NodeRecord) -> WorkerHandle? {
        guard !shuttingDown else { return nil }
        let id = workers.newID()
        guard node.isLocal else {
            guard let worker = remoteWorkerStarter?(id, pool, node, actorID) else { return nil }
            workers.add(worker)
            return worker
        }
        let worker = WorkerHandle(id: id, pid: 0, node: node, pool: pool, role: actorID.map { .actor($0) } ?? .tasks)
        do {
            try processes.start(worker, manager: self)
        } catch {
            logger.error("\(error)")
            workerStartFailed(String(describing: error))
            return nil
        }
        workers.add(worker)
        logger.debug("started worker \(id) pid \(worker.pid)")
        return worker
    }

    /// Too many failed starts in a row fail the queued tasks instead of leaving them waiting forever.
    private func workerStartFailed(_ reason: String, killed: Bool = false) {
        let failures = workers.startFailed(killed: killed)
        guard failures.inARow >= config.maxStartFailures, failures.noneRegistered else {
            requestSchedule()
            return
        }
        let error = ErrorInfo(kind: .system, message: "workers cannot start on node \(config.nodeID): \(reason)")
        for id in queues.removeAll() { if let record = tasks[id] { finish(record, .error(error)) } }
    }

    package func handle(_ message: WireMessage, from worker: WorkerHandle) {
        if worker.awaitingJob, holdsForJob(message, from: worker) { return }
        switch message {
        case .register:
            guard !worker.registered else { return }
            workers.registered(worker)
            worker.idleSince = loop.now
            if let actorID = worker.actorID, let record = actors[actorID] {
                worker.currentName = record.spec.className
                var spec = record.spec
                spec.restarts = record.restarts
                send(.hostActor(spec), to: worker)
            } else {
                markIdleIfFree(worker)
                requestSchedule()
            }
        case .taskDone(let id, let payload):
            noteRemoteCopy(payload, from: worker)
            if worker.actorID != nil {
                actorCallDone(id, [payload], from: worker)
            } else {
                taskDone(id, [payload], from: worker)
            }
        case .taskReturns(let id, let payloads):
            for payload in payloads { noteRemoteCopy(payload, from: worker) }
            if worker.actorID != nil {
                actorCallDone(id, payloads, from: worker)
            } else {
                taskDone(id, payloads, from: worker)
            }
        case .submit(let spec):
            submitOnLoop(spec, holder: worker)
        case .yieldItem(let stream, let index, let item, let payload, let wantsAck):
            itemYielded(stream, index: index, item: item, payload, from: worker, wantsAck: wantsAck)
        case .nextItems(let requestID, let caller, let stream, let from):
            nextItemsOnLoop(stream, from: from, caller: caller) { [self] items in
                send(.streamItems(requestID: requestID, items), to: worker)
            }
        case .dropStream(let stream, let received):
            dropStreamOnLoop(stream, received: received, holder: worker)
        case .get(let requestID, let caller, let ids, let timeout):
            getOnLoop(ids, timeoutMillis: timeout, caller: caller) { [self] results in
                // Objects whose holders died meanwhile are asked for again (rebuilt, or errors).
                send(.getReply(requestID: requestID, results: results), to: worker) { [self] in handle(message, from: worker) }
            }
        case .wait(let requestID, let caller, let ids, let numReturns, let timeout):
            waitOnLoop(ids, numReturns: numReturns, timeoutMillis: timeout, caller: caller) { [self] ready in
                send(.waitReply(requestID: requestID, ready: ready), to: worker)
            }
        case .put(let id, let payload):
            noteRemoteCopy(payload, from: worker)
            putOnLoop(id, worker.isDriver ? storedHere(id, payload) : payload, holder: worker)
        case .returnTasks(let ids):
            tasksReturned(ids, by: worker)
        case .addRefs(let ids):
            addRefsOnLoop(ids, holder: worker)
        case .resumeSession(let held, let lineage) where worker.isDriver || worker.actorID != nil || worker.outlivedHead:
            resumeSession(held: held, lineage: lineage, of: worker)
        case .releaseRefs(let ids):
            releaseRefsOnLoop(ids, holder: worker)
        case .cancel(let id, let force, let recursive):
            cancelOnLoop(id, force: force, recursive: recursive)
        case .createActor(let requestID, let spec):
            createActorOnLoop(spec, creator: worker) { [self] error in
                send(.requestDone(requestID: requestID, error: error), to: worker)
            }
        case .actorCall(let call):
            actorCallOnLoop(call, holder: worker)
        case .actorReady(let id, let error):
            actorReady(id, error: error, from: worker)
        case .killActor(let id, let noRestart):
            killActorOnLoop(id, noRestart: noRestart)
        case .lookupActor(let requestID, let name, let namespace):
            send(.actorFound(requestID: requestID, lookupActorOnLoop(name: name, namespace: namespace, asker: worker)), to: worker)
        case .control(.kv(let requestID, let request)):
            keyValue(request) { [self] reply in send(.control(.kvReply(requestID: requestID, reply)), to: worker) }
        case .control(.stateRequest(let requestID)):
            send(.control(.state(requestID: requestID, stateSnapshot())), to: worker)
        case .control(.nodesRequest(let requestID)):
            send(.control(.state(requestID: requestID, ClusterState(nodes: nodeStates()))), to: worker)
        case .control(.placementGroup(let requestID, let request)):
            placementGroupRequest(request) { [self] error in send(.requestDone(requestID: requestID, error: error), to: worker) }
        case .control(let control):
            logger.warning("worker \(worker.id) pid \(worker.pid) sent a control message the node does not serve: \(control)")
        case .execute, .getReply, .waitReply, .shutdown, .hostActor, .requestDone, .actorFound, .pullObject, .objectChunk,
             .streamItems, .streamProgress, .resumeSession:
            logger.warning("worker \(worker.id) pid \(worker.pid) sent a node-to-worker message; closing its channel")
            worker.channel?.close(promise: nil)
        }
    }

    /// The worker's channel closed: the process is gone or going. Kill it to be sure, reap it off the
    /// loop, then retry or fail what it was running.
    package func channelClosed(_ worker: WorkerHandle) {
        loop.assertInEventLoop()
        guard !worker.dead else { return }
        if !worker.node.isLocal, !worker.isDriver, worker.node.alive { worker.node.unconfirmedDeaths.insert(worker.id) }
        worker.dead = true
        terminate(worker)
        reap(worker)
    }

    /// Kills a worker process: directly here, through its node's daemon elsewhere.
    /// (A driver is not ours to kill: its connection is closed; a child process it started may
    /// hold that connection open after the driver closed it.)
    func terminate(_ worker: WorkerHandle) {
        if worker.node.isLocal {
            if worker.isDriver { worker.channel?.close(promise: nil) } else { processes.kill(worker) }
        } else {
            remoteWorkerKiller?(worker)
        }
    }

    private func reap(_ worker: WorkerHandle) {
        worker.dead = true
        guard worker.node.isLocal, !worker.isDriver else {
            // Not our child: its channel closing is its end.
            return workerExited(worker, code: Self.connectionLost)
        }
        processes.reap(worker, manager: self) { [self] code in workerExited(worker, code: code) }
    }

    package func workerExited(_ worker: WorkerHandle, code: Int32) {
        loop.assertInEventLoop()
        workers.remove(worker)
        if !worker.registered {
            if !shuttingDown {
                logger.error("worker pid \(worker.pid) exited before registering (\(describeExit(code)))")
                workerStartFailed("worker pid \(worker.pid) \(describeExit(code)) before registering", killed: code == -SIGKILL)
            }
        } else if !shuttingDown && !worker.running.isEmpty {
            logger.warning("worker pid \(worker.pid) died (\(describeExit(code))) while running \(worker.running.count) task(s)")
        }
        if worker.killedForMemory != nil { worker.node.memoryKillPending = false }
        for id in worker.running {
            guard let record = tasks[id] else { continue }
            detach(record, from: worker)
            if let reason = worker.killedForMemory, !record.cancelled, !shuttingDown {
                outOfMemory(record, reason: reason)
            } else if record.cancelled {
                finish(record, .error(cancelledError(record)))
            } else if shuttingDown {
                finish(record, .error(ErrorInfo(kind: .system, message: "the cluster shut down", functionName: record.spec.name)))
            } else if record.retriesLeft != 0 {
                logger.info("retrying \(record.spec.name) after its worker died (attempt \(record.spec.attempt + 2))")
                retry(record)
            } else {
                let message = "the worker running \(record.spec.name) (pid \(worker.pid)) died: \(describeExit(code)); no retries left (maxRetries: \(record.spec.maxRetries))"
                finish(record, .error(ErrorInfo(kind: .workerCrashed, message: message, functionName: record.spec.name, nodeID: config.nodeID, pid: worker.pid)))
            }
        }
        worker.running = []
        survivorExited(worker)
        if let actorID = worker.actorID, let record = actors[actorID] {
            actorWorkerDied(record, worker: worker, code: code)
        }
        killActorsCreated(by: worker.id)
        closeStreams(ownedBy: worker)
        releaseHolds(of: worker)
        workerLogs?.close(pid: worker.pid)
        config.objectDirectory?.removeUnsealed(by: worker.pid)
        if shuttingDown, workers.isEmpty { shutdownPromise?.succeed() }
        requestSchedule()
    }

    /// The exit code of a worker whose status is unknown (it ran on another node, or its node died).
    static let connectionLost = Int32.min

    func describeExit(_ code: Int32) -> String {
        if code == Self.connectionLost { return "its connection closed" }
        return code >= 0 ? "exit code \(code)" : "killed by signal \(-code)"
    }

    func shutdownOnLoop() -> EventLoopFuture<Void> {
        if let promise = shutdownPromise { return promise.futureResult }
        shuttingDown = true
        let promise = loop.makePromise(of: Void.self)
        shutdownPromise = promise
        if workers.isEmpty {
            promise.succeed()
            return promise.futureResult
        }
        for worker in workers.all {
            send(.shutdown, to: worker)
        }
        // Workers that do not leave in time are killed; reaping completes the promise.
        loop.scheduleTask(in: .seconds(2)) { [self] in
            for worker in workers.all { terminate(worker) }
        }
        return promise.futureResult
    }
}


// MARK: The memory monitor

extension NodeManager {
    /// Ray's memory monitor: when `node`'s memory use passes the threshold, the worker of the most
    /// recently started retriable task there is killed (then of any task), one at a time: the next
    /// waits until that one has exited and its memory is back. The node itself stays up.
    /// `threshold`: that node's own (a node daemon's monitor reports its usage against it).
    package func memoryUsed(_ usage: MemoryUsage, on node: NodeRecord, threshold: Double? = nil) {
        loop.assertInEventLoop()
        let threshold = threshold ?? config.memoryUsageThreshold
        guard usage.fraction > threshold, !node.memoryKillPending, node.alive else { return }
        guard let (worker, record) = memoryVictim(on: node) else { return }
        let reason = "node \(node.id) used \(usage) of its memory, above the memory monitor's threshold of \(String(format: "%.1f%%", threshold * 100)) (SWIFTRAY_MEMORY_USAGE_THRESHOLD)"
        logger.warning("memory monitor: \(reason); killing worker pid \(worker.pid) running \(record.spec.name), the most recently started \(record.retriesLeft != 0 ? "retriable " : "")task")
        worker.killedForMemory = reason
        node.memoryKillPending = true
        terminate(worker)
    }

    /// The task worker to kill: retriable tasks first, the most recently started of them (it has
    /// lost the least work), as Ray picks. Actors' workers are left alone.
    func memoryVictim(on node: NodeRecord) -> (WorkerHandle, TaskRecord)? {
        let running = workers.all.filter { $0.node === node && !$0.dead && !$0.isDriver && $0.actorID == nil }
            .flatMap { worker in worker.running.compactMap { tasks[$0] }.map { (worker, $0) } }
        let retriable = running.filter { $0.1.retriesLeft != 0 }
        return (retriable.isEmpty ? running : retriable).max { ($0.1.startedAt ?? 0) < ($1.1.startedAt ?? 0) }
    }

    /// A task whose worker the monitor killed: tried again a little later (memory may be back by
    /// then), or failed with `OutOfMemoryError` once its retries are spent.
    func outOfMemory(_ record: TaskRecord, reason: String) {
        guard record.retriesLeft == 0 else {
            logger.info("retrying \(record.spec.name) after the memory monitor killed its worker (attempt \(record.spec.attempt + 2))")
            let (id, attempt) = (record.id, record.spec.attempt)
            loop.scheduleTask(in: .seconds(1)) { [self] in
                if let current = tasks[id], current.spec.attempt == attempt, !current.cancelled { retry(current) }
            }
            return
        }
        let message = "Task \(record.spec.name) was killed by the memory monitor: \(reason); no retries left (maxRetries: \(record.spec.maxRetries))"
        finish(record, .error(ErrorInfo(kind: .outOfMemory, message: message, functionName: record.spec.name, nodeID: config.nodeID)))
    }
}
