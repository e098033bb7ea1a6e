import NIOCore
import RayWire

extension NodeManager {
    package func submitOnLoop(_ spec: TaskSpec, holder: WorkerHandle?) {
        loop.assertInEventLoop()
        for id in spec.returnIDs { createObject(id, holder: holder) }
        if let streaming = spec.streaming { openStream(spec.taskID, streaming, owner: holder) }
        guard !shuttingDown else {
            let error = ErrorInfo(kind: .system, message: "the cluster is shutting down", functionName: spec.name)
            for id in spec.returnIDs { finishObject(id, .error(error)) }
            return
        }
        let record = TaskRecord(spec: spec, pool: (holder?.pool ?? defaultPool).adding(spec.environment), ownerID: holder?.id ?? 0)
        tasks[spec.taskID] = record
        pin(spec.heldRefs)
        if spec.parentTaskID != .none, let parent = tasks[spec.parentTaskID] {
            parent.children.append(spec.taskID)
            // Submitted as its parent was being cancelled recursively (the cancel crossed it on the
            // way): it never runs.
            if parent.cancelledRecursively {
                record.cancelled = true
                return finish(record, .error(cancelledError(record)))
            }
        }
        if let message = infeasibility(spec.resources, spec.strategy, name: "task \(spec.name)") {
            logger.warning("infeasible task: \(message)")
            finish(record, .error(ErrorInfo(kind: .unschedulable, message: message, functionName: spec.name)))
            return
        }
        waitForArguments(record)
    }

    /// Queues the task once every reference argument is finished.
    func waitForArguments(_ record: TaskRecord) {
        record.state = .waitingForArguments
        let dependencies = record.spec.dependencies
        record.missingArguments = dependencies.count
        guard !dependencies.isEmpty else { return enqueue(record) }
        for dependency in dependencies {
            onReady(dependency) { [self] payload in argumentReady(record, payload) }
        }
    }

    private func argumentReady(_ record: TaskRecord, _ payload: ObjectPayload) {
        guard record.state == .waitingForArguments, tasks[record.id] === record else { return }
        if case .error(let info) = payload {
            // A task whose argument failed fails with that same error.
            finish(record, .error(info))
            return
        }
        record.missingArguments -= 1
        if record.missingArguments == 0 { enqueue(record) }
    }

    func enqueue(_ record: TaskRecord) {
        record.state = .queued
        queues.append(record.id, record.schedulingClass)
        requestSchedule()
    }

    /// Dispatches queued tasks class by class in submission order: to an idle worker when the
    /// demand fits, to a worker whose tasks are all blocked, or queued behind the running task of a
    /// worker leased for the same demand; starts workers when tasks fit but no worker is free.
    func schedule() {
        loop.assertInEventLoop()
        guard !shuttingDown else { return }
        placePendingActors()
        placePendingGroups()
        var wanted: [(pool: WorkerPool, node: NodeRecord, count: Int)] = []
        for cls in queues.classes {
            guard var queue = queues.take(cls) else { continue }
            while let id = queue.first {
                guard let record = tasks[id], record.state == .queued else {
                    queue.removeFirst()
                    continue
                }
                let targets = leaseTargets(cls.demand, cls.strategy)
                guard let (worker, target) = pickWorker(for: cls, targets: targets) else {
                    wanted += startsWanted(cls.pool, cls.demand, targets: targets, queued: queue.count)
                    break
                }
                queue.removeFirst()
                dispatch(record, to: worker, target: target)
            }
            queues.putBack(queue, cls)
        }
        var budget = config.maxStartingWorkers - workers.starting
        for want in wanted where budget > 0 {
            let starting = workers.startingCount(want.pool, on: want.node)
            let count = min(want.count - starting, budget)
            guard count > 0 else { continue }
            for _ in 0..<count { startWorker(pool: want.pool, on: want.node) }
            budget -= count
        }
    }

    /// Workers to start for `queued` tasks of one demand: on each target in turn as many as its free
    /// resources hold, so tasks spread over nodes that just joined instead of queueing for the
    /// first one's worker (while it starts, its resources still look free); the rest, up to
    /// `maxStartingWorkers` in all, on the first (tasks that block lend their CPU to the next).
    private func startsWanted(
        _ pool: WorkerPool, _ demand: ResourceSet, targets: [LeaseTarget], queued: Int
    ) -> [(pool: WorkerPool, node: NodeRecord, count: Int)] {
        var left = min(queued, config.maxStartingWorkers)
        var wanted: [(pool: WorkerPool, node: NodeRecord, count: Int)] = []
        for target in targets where left > 0 && !workers.hasIdle(pool, on: target.node) {
            let count = target.available.count(of: demand, upTo: left)
            guard count > 0 else { continue }
            wanted.append((pool, target.node, count))
            left -= count
        }
        if left > 0, let first = wanted.first { wanted[0].count = first.count + left }
        return wanted
    }

    /// Whether some live node could ever hold `demand`.
    func canEverFit(_ demand: ResourceSet) -> Bool {
        nodes.contains { $0.alive && $0.total.fits(demand) } || autoscalingNodeTypes.contains { $0.fits(demand) }
    }

    /// The cluster's resources, per node, for messages.
    var clusterSummary: String {
        let live = nodes.filter(\.alive)
        return live.count == 1 ? live[0].total.summary : live.map { "\($0.id): \($0.total.summary)" }.joined(separator: "; ")
    }

    /// Spreads first (an idle worker while resources fit), then resumes a blocked worker, then
    /// pipelines onto the least loaded worker leased for this demand.
    private func pickWorker(for cls: SchedulingClass, targets: [LeaseTarget]) -> (WorkerHandle, LeaseTarget?)? {
        if let (idle, target) = workers.takeIdle(cls.pool, for: targets) { return (idle, target) }
        var cpu = ResourceSet()
        cpu["CPU"] = cls.demand["CPU"]
        // Only CPU is lent by a blocked task (as in Ray): a demand for anything else (GPUs, memory,
        // custom resources) needs a lease of its own, or the blocked task's would be shared.
        if cls.demand.onlyCPU, let blocked = workers.all.first(where: { $0.canResume(cls) && ($0.leaseTarget?.available.fits(cpu) ?? false) }) {
            return (blocked, nil)
        }
        guard let piped = workers.all.filter({ $0.canPipeline(cls) }).min(by: { $0.running.count < $1.running.count }) else { return nil }
        return (piped, nil)
    }

    func markIdleIfFree(_ worker: WorkerHandle) { workers.markIdleIfFree(worker) }

    /// Sends the task; a worker without tasks takes its lease from `target`.
    private func dispatch(_ record: TaskRecord, to worker: WorkerHandle, target: LeaseTarget?) {
        var spec = record.spec
        spec.args = resolve(spec.args)
        assign(record, to: worker, target: target)
        send(.execute(spec), to: worker) { [self] in argumentsLost(record, on: worker) }
    }

    /// Records the task as running on `worker`; a worker without tasks takes its lease from `target`.
    func assign(_ record: TaskRecord, to worker: WorkerHandle, target: LeaseTarget?) {
        let spec = record.spec
        if worker.running.isEmpty {
            let target = target ?? .node(worker.node)
            target.take(spec.resources)
            worker.leaseTarget = target
            worker.leaseStrategy = spec.strategy
            worker.lease = spec.resources
            worker.lent = false
        } else if worker.lent {
            takeBackCPU(worker)
        }
        record.state = .running(workerID: worker.id)
        record.startedAt = wallMicros()
        record.ranOn = (worker.node.id, worker.pid)
        worker.running.insert(record.id)
        worker.active += 1
        worker.currentName = spec.name
    }

    /// An argument's holders died before it reached the worker: the task waits for it again (it is
    /// being rebuilt, or is an error the task then fails with).
    private func argumentsLost(_ record: TaskRecord, on worker: WorkerHandle) {
        guard tasks[record.id] === record, record.state == .running(workerID: worker.id) else { return }
        detach(record, from: worker)
        waitForArguments(record)
        markIdleIfFree(worker)
        requestSchedule()
    }

    /// Lends the worker's CPU back while every task on it is blocked.
    private func lendCPU(_ worker: WorkerHandle) {
        guard !worker.lent, let cpu = worker.lease?["CPU"], cpu > 0 else { return }
        var lent = ResourceSet()
        lent["CPU"] = cpu
        worker.leaseTarget?.give(lent)
        worker.lent = true
    }

    /// Takes the lent CPU again, even if that oversubscribes for a while.
    private func takeBackCPU(_ worker: WorkerHandle) {
        guard worker.lent else { return }
        var back = ResourceSet()
        back["CPU"] = worker.lease?["CPU"] ?? 0
        worker.leaseTarget?.take(back)
        worker.lent = false
    }

    /// Replaces reference arguments with the values they name (all finished by now).
    func resolve(_ args: [TaskArg]) -> [TaskArg] {
        args.map { argument in
            guard case .ref(let id) = argument, case .value(let value)? = objects.payload(id) else { return argument }
            return .value(value)
        }
    }

    /// A task's results arrived (one payload, or one per result for a task with several).
    func taskDone(_ id: TaskID, _ payloads: [ObjectPayload], from worker: WorkerHandle) {
        guard let record = tasks[id], record.state == .running(workerID: worker.id), let first = payloads.first else {
            if survivors.holdEarly(id, payloads, from: worker.id) { return }  // its driver has not handed its spec back yet
            logger.debug("ignoring result of unknown task \(id) from worker \(worker.id)")
            return payloads.forEach(discardStorage)
        }
        detach(record, from: worker)
        if record.cancelled {
            payloads.forEach(discardStorage)
            finish(record, .error(cancelledError(record)))
        } else if case .error(let info) = first, info.kind == .taskError, record.spec.retryExceptions, record.retriesLeft != 0 {
            logger.info("task \(record.spec.name) threw \(info.errorType): retrying (attempt \(record.spec.attempt + 2))")
            retry(record)
        } else if payloads.count == record.spec.returnIDs.count {
            finish(record, results: payloads)
        } else if case .error = first {
            finish(record, first)  // one error for every result
        } else {
            payloads.forEach(discardStorage)
            let message = "\(record.spec.name) returned \(payloads.count) results; its submitter expects \(record.spec.returnIDs.count)"
            finish(record, .error(ErrorInfo(kind: .system, message: message, functionName: record.spec.name)))
        }
        markIdleIfFree(worker)
        stopSurvivorIfDone(worker)
        requestSchedule()
    }

    /// Takes a running task off its worker; the worker's lease goes back when its last task does.
    func detach(_ record: TaskRecord, from worker: WorkerHandle) {
        worker.running.remove(record.id)
        if record.blockCount == 0 { worker.active -= 1 }
        record.blockCount = 0
        if worker.running.isEmpty {
            var lease = worker.lease ?? [:]
            if worker.lent { lease["CPU"] = nil }
            worker.leaseTarget?.give(lease)
            worker.leaseTarget = nil
            worker.lease = nil
            worker.lent = false
            worker.slow = false
            worker.idleSince = loop.now
        } else if worker.active == 0 {
            lendCPU(worker)
        }
    }

    /// The worker hands back queued tasks it has not started: they go to the front of their queue.
    func tasksReturned(_ ids: [TaskID], by worker: WorkerHandle) {
        worker.slow = true
        for id in ids.reversed() {
            guard let record = tasks[id], record.state == .running(workerID: worker.id) else { continue }
            detach(record, from: worker)
            record.state = .queued
            queues.prepend(id, record.schedulingClass)
        }
        requestSchedule()
    }

    func retry(_ record: TaskRecord) {
        if record.retriesLeft > 0 { record.retriesLeft -= 1 }
        record.spec.attempt += 1
        enqueue(record)
    }

    /// Ends a task with one outcome for all its results (an error, or a task's single value).
    func finish(_ record: TaskRecord, _ payload: ObjectPayload) {
        finish(record, results: record.spec.extraReturns.isEmpty ? [payload] : record.spec.returnIDs.map { _ in payload })
    }

    /// Ends a task: each result is stored; those held only on other nodes keep the task as their
    /// lineage (each lineage entry holds one pin on the task's arguments).
    func finish(_ record: TaskRecord, results: [ObjectPayload]) {
        tasks[record.id] = nil
        remember(record.id, record.taskState(results[0], spellingID: false))
        record.state = .waitingForArguments
        var kept = 0
        for (id, payload) in zip(record.spec.returnIDs, results) {
            guard finishObject(id, payload), lineage[id] == nil, keepsLineage(record, id, payload) else { continue }
            lineage[id] = record
            kept += 1
        }
        if kept == 0 { unpin(record.spec.heldRefs) }
        for _ in 1..<max(kept, 1) { pin(record.spec.heldRefs) }
    }

    /// Stores a result: the refs it contains live as long as it does; waiters hear of it (of one
    /// kept on another node with refs inside, once the head has stored those: a head crash after a
    /// driver saw it must not lose them); it is freed at once if nobody holds it any more.
    @discardableResult
    func finishObject(_ id: ObjectID, _ payload: ObjectPayload) -> Bool {
        let (waiters, isNew) = objects.finish(id, payload)
        guard isNew else {
            discardStorage(of: payload)
            return false
        }
        pin(payload.containedRefs)
        if let shared = payload.sharedObject, !hasCopy(shared, on: localNode) {
            objects.setRemote(id, true)  // read where it is; copied here on demand
            if tellOnceRefsStored(id, payload, waiters) { return true }
        } else {
            ready.insert(id, payload)
            if payload.sharedObject != nil {
                sharedOrder.append(id)
                spillIfNeeded()
            }
        }
        for waiter in waiters { waiter(payload) }
        freeIfUnused([id])
        return true
    }

    func cancelledError(_ record: TaskRecord) -> ErrorInfo {
        ErrorInfo(kind: .cancelled, message: "task \(record.spec.name) was cancelled", functionName: record.spec.name, nodeID: config.nodeID)
    }

    package func cancelOnLoop(_ id: TaskID, force: Bool, recursive: Bool) {
        loop.assertInEventLoop()
        // A task is cancelled through any of its results' refs.
        guard let record = tasks[id] ?? tasks.values.first(where: { $0.spec.extraReturns.contains(id) }) else {
            return cancelActorCall(id)
        }
        record.cancelled = true
        if recursive {
            record.cancelledRecursively = true
            for child in record.children { cancelOnLoop(child, force: force, recursive: true) }
        }
        switch record.state {
        case .waitingForArguments, .queued:
            finish(record, .error(cancelledError(record)))
        case .running(let workerID):
            guard let worker = workers[workerID] else { return }
            if force {
                logger.info("force-cancelling \(record.spec.name): killing worker pid \(worker.pid)")
                terminate(worker)
            } else {
                send(.cancel(id, force: false, recursive: recursive), to: worker)
            }
        }
    }

    /// A running task waits in `get`/`wait`: once every task on its worker waits, the worker lends
    /// its CPU back so nested tasks can run (on it or elsewhere).
    func block(_ caller: TaskID) {
        guard let record = tasks[caller], case .running(let workerID) = record.state, let worker = workers[workerID] else { return }
        record.blockCount += 1
        guard record.blockCount == 1 else { return }
        worker.active -= 1
        if worker.active == 0 { lendCPU(worker) }
        requestSchedule()
    }

    /// The wait is over: the task runs again and its worker takes its CPU back.
    func unblock(_ caller: TaskID) {
        guard let record = tasks[caller], case .running(let workerID) = record.state, let worker = workers[workerID],
              record.blockCount > 0 else { return }
        record.blockCount -= 1
        guard record.blockCount == 0 else { return }
        worker.active += 1
        takeBackCPU(worker)
    }
}

import RayPlatform
