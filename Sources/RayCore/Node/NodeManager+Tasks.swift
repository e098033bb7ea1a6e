import NIOCore
import RayWire

extension NodeManager {
    func submitOnLoop(_ spec: TaskSpec, holder: WorkerHandle?) {
        createObject(spec.returnID, holder: holder)
        guard !shuttingDown else {
            finishObject(spec.returnID, .error(ErrorInfo(kind: .system, message: "the cluster is shutting down", functionName: spec.name)))
            return
        }
        let record = TaskRecord(spec: spec)
        tasks[spec.taskID] = record
        pin(spec.heldRefs)
        if spec.parentTaskID != .none { tasks[spec.parentTaskID]?.children.append(spec.taskID) }
        guard config.resources.fits(spec.resources) else {
            let message = "task \(spec.name) requires \(spec.resources.summary) but this cluster has \(config.resources.summary); no node can ever run it"
            logger.warning("infeasible task: \(message)")
            finish(record, .error(ErrorInfo(kind: .unschedulable, message: message, functionName: spec.name)))
            return
        }
        let dependencies = spec.dependencies
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
        queues[record.demand, default: CircularBuffer()].append(record.id)
        requestSchedule()
    }

    /// Dispatches queued tasks whose resources fit to workers that are free, class by class in
    /// submission order, and starts workers when tasks fit but no worker is free.
    func schedule() {
        guard !shuttingDown else { return }
        placePendingActors()
        var wantWorkers = 0
        for demand in Array(queues.keys) {
            guard var queue = queues[demand] else { continue }
            queues[demand] = nil  // keep `queue` uniquely referenced
            var budget = available
            while let id = queue.first {
                guard let record = tasks[id], record.state == .queued else {
                    queue.removeFirst()
                    continue
                }
                guard available.fits(demand) else { break }
                guard let worker = takeIdleWorker() else {
                    // Count how many more could run if there were workers.
                    while budget.fits(demand), wantWorkers < queue.count {
                        budget.subtract(demand)
                        wantWorkers += 1
                    }
                    break
                }
                queue.removeFirst()
                budget.subtract(demand)
                dispatch(record, to: worker)
            }
            if !queue.isEmpty { queues[demand] = queue }
        }
        let toStart = min(wantWorkers, config.maxStartingWorkers) - startingWorkers
        if toStart > 0 { for _ in 0..<toStart { startWorker() } }
    }

    private func takeIdleWorker() -> WorkerHandle? {
        while let id = idleWorkers.popLast() {
            if let worker = workers[id], worker.canTakeTask { return worker }
        }
        return nil
    }

    func markIdleIfFree(_ worker: WorkerHandle) {
        if worker.canTakeTask { idleWorkers.append(worker.id) }
    }

    private func dispatch(_ record: TaskRecord, to worker: WorkerHandle) {
        var spec = record.spec
        spec.args = resolve(spec.args)
        available.subtract(spec.resources)
        record.holding = spec.resources
        record.state = .running(workerID: worker.id)
        worker.running.insert(record.id)
        worker.active += 1
        worker.currentName = spec.name
        send(.execute(spec), to: worker)
    }

    /// Replaces reference arguments with the values they name (all finished by now).
    func resolve(_ args: [TaskArg]) -> [TaskArg] {
        args.map { argument in
            guard case .ref(let id) = argument, case .value(let value)? = objects.payload(id) else { return argument }
            return .value(value)
        }
    }

    func taskDone(_ id: TaskID, _ payload: ObjectPayload, from worker: WorkerHandle) {
        guard let record = tasks[id], record.state == .running(workerID: worker.id) else {
            logger.debug("ignoring result of unknown task \(id) from worker \(worker.id)")
            return
        }
        detach(record, from: worker)
        if record.cancelled {
            finish(record, .error(cancelledError(record)))
        } else if case .error(let info) = payload, info.kind == .taskError, record.spec.retryExceptions, record.retriesLeft != 0 {
            logger.info("task \(record.spec.name) threw \(info.errorType): retrying (attempt \(record.spec.attempt + 2))")
            retry(record)
        } else {
            finish(record, payload)
        }
        markIdleIfFree(worker)
        requestSchedule()
    }

    /// Takes a running task off its worker and gives its resources back.
    func detach(_ record: TaskRecord, from worker: WorkerHandle) {
        worker.running.remove(record.id)
        if record.blockCount == 0 { worker.active -= 1 }
        record.blockCount = 0
        available.add(record.holding)
        record.holding = [:]
    }

    func retry(_ record: TaskRecord) {
        if record.retriesLeft > 0 { record.retriesLeft -= 1 }
        record.spec.attempt += 1
        enqueue(record)
    }

    func finish(_ record: TaskRecord, _ payload: ObjectPayload) {
        tasks[record.id] = nil
        record.state = .waitingForArguments
        finishObject(record.spec.returnID, payload)
        unpin(record.spec.heldRefs)
    }

    /// Stores a result: the refs it contains live as long as it does; waiters hear of it; it is
    /// freed at once if nobody holds it any more.
    func finishObject(_ id: ObjectID, _ payload: ObjectPayload) {
        let (waiters, isNew) = objects.finish(id, payload)
        guard isNew else { return }
        pin(payload.containedRefs)
        for waiter in waiters { waiter(payload) }
        freeIfUnused([id])
    }

    func cancelledError(_ record: TaskRecord) -> ErrorInfo {
        ErrorInfo(kind: .cancelled, message: "task \(record.spec.name) was cancelled", functionName: record.spec.name, nodeID: config.nodeID)
    }

    func cancelOnLoop(_ id: TaskID, force: Bool, recursive: Bool) {
        guard let record = tasks[id] else { return }
        record.cancelled = true
        if recursive { for child in record.children { cancelOnLoop(child, force: force, recursive: true) } }
        switch record.state {
        case .waitingForArguments, .queued:
            finish(record, .error(cancelledError(record)))
        case .running(let workerID):
            guard let worker = workers[workerID] else { return }
            if force {
                logger.info("force-cancelling \(record.spec.name): killing worker pid \(worker.pid)")
                kill(worker.pid, SIGKILL)
            } else {
                send(.cancel(id, force: false, recursive: recursive), to: worker)
            }
        }
    }

    /// A running task waits in `get`/`wait`: it lends its CPU back so nested tasks can run.
    func block(_ caller: TaskID) {
        guard let record = tasks[caller], case .running(let workerID) = record.state, let worker = workers[workerID] else { return }
        record.blockCount += 1
        guard record.blockCount == 1 else { return }
        if let cpu = record.holding["CPU"], cpu > 0 {
            available["CPU", default: 0] += cpu
            record.holding["CPU"] = nil
        }
        worker.active -= 1
        markIdleIfFree(worker)
        requestSchedule()
    }

    /// The wait is over: the task takes its CPU again, even if that oversubscribes for a while.
    func unblock(_ caller: TaskID) {
        guard let record = tasks[caller], case .running(let workerID) = record.state, let worker = workers[workerID],
              record.blockCount > 0 else { return }
        record.blockCount -= 1
        guard record.blockCount == 0 else { return }
        if let cpu = record.spec.resources["CPU"], cpu > 0 {
            available["CPU", default: 0] -= cpu
            record.holding["CPU"] = cpu
        }
        worker.active += 1
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
