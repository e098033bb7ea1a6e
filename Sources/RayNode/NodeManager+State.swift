import Foundation
import NIOCore
import RayWire
import RayPlatform

/// The state API: what the scheduler knows, as a `ClusterState` snapshot.
extension NodeManager {
    /// Keeps a finished task or call in the bounded history.
    /// Keeps a finished task or call for the state API (its id is spelled out only when asked for:
    /// formatting it for every call would cost more than the call's bookkeeping).
    func remember(_ id: RayID, _ task: TaskState) {
        finishedTasks.append(FinishedTask(id: id, state: task))
        if finishedTasks.count > Self.finishedTasksKept { finishedTasks.removeFirst() }
    }

    /// The nodes as the state API shows them (without the rest of a snapshot).
    package func nodeStates() -> [NodeState] {
        let stored = storedPerNode()
        return nodes.map {
            NodeState(
                nodeID: $0.id, address: $0.address, alive: $0.alive, isHead: $0.isLocal, total: $0.total, available: $0.available,
                storedObjects: stored[$0.id]?.objects ?? 0, storedBytes: stored[$0.id]?.bytes ?? 0)
        }
    }

    package func stateSnapshot() -> ClusterState {
        loop.assertInEventLoop()
        return ClusterState(
            nodes: nodeStates(),
            workers: workers.all.sorted { $0.id < $1.id }.map(workerState),
            tasks: finishedTasks.map(\.rendered) + tasks.values.map { $0.taskState(nil) } + actorCallStates(),
            actors: actors.all.map(actorState),
            objects: objectStates(),
            jobs: jobs.keys.sorted().map { jobs[$0]! } + submittedJobs.values.sorted { ($0.startedAt, $0.jobID) < ($1.startedAt, $1.jobID) },
            placementGroups: placementGroups.all.map(placementGroupState),
            experiments: keyValues.values(in: ExperimentStatus.namespace).compactMap {
                try? JSONDecoder().decode(ExperimentStatus.self, from: Data($0))  // a malformed entry is not shown
            },
            serve: serveHosts(),
            datasets: keyValues.values(in: DatasetStatus.namespace).compactMap {
                try? JSONDecoder().decode(DatasetStatus.self, from: Data($0))
            }.sorted { ($0.startedAt, $0.datasetID) > ($1.startedAt, $1.datasetID) })
    }

    /// The Serve hosts that published within the last 10 s (one that stopped is not shown).
    private func serveHosts() -> [ServeHostStatus] {
        let recent = Int64(Date().timeIntervalSince1970 * 1e6) - 10_000_000
        return keyValues.values(in: ServeDeployConfig.namespace, prefix: "host-").compactMap {
            try? JSONDecoder().decode(ServeHostStatus.self, from: Data($0))
        }.filter { $0.updatedAt >= recent }
    }

    /// Serves the key-value store. A change goes to `keyValueChanged` (the head's state store) and
    /// is answered once that has it, so an acknowledged write survives a head crash.
    package func keyValue(_ request: KVRequest, reply: @escaping (KVReply) -> Void) {
        loop.assertInEventLoop()
        let answer = keyValues.apply(request)
        switch (request, answer) {
        case (.put(_, _, _, true), _), (.put, .added(true)), (.delete, .deleted(1)):
            guard let persist = keyValueChanged else { return reply(answer) }
            persist(request, onLoop { reply(answer) })
        default:
            reply(answer)
        }
    }

    /// Puts back entries a previous head stored (before anything is served).
    package func restoreKeyValues(_ entries: [(space: String, key: String, value: [UInt8])]) {
        loop.assertInEventLoop()
        for entry in entries { _ = keyValues.apply(.put(namespace: entry.space, key: entry.key, value: entry.value, overwrite: true)) }
    }

    /// A worker's kept output, for `swiftray logs`.
    package func logs(_ query: LogsQuery) -> (text: String, next: Int, error: String?) {
        if let problem = query.problem { return ("", 0, problem) }
        guard let folder = config.logsFolder else { return ("", 0, "this node keeps no worker logs") }
        let pid: Int32?
        if let actor = query.actor {
            pid = actors.all.first { "\($0.id)" == actor || $0.spec.name == actor }?.lastPID
        } else if let task = query.task {
            pid = tasks.values.first { "\($0.id)" == task }?.ranOn?.pid ?? finishedTasks.last { "\($0.id)" == task }?.state.workerPID
        } else {
            pid = query.pid
        }
        guard let pid else { return ("", 0, "no worker found for \(query.actor ?? query.task ?? "that query")") }
        guard let read = WorkerLogs.read(folder: folder, pid: pid, offset: query.offset, tailLines: query.tail) else {
            return ("", query.offset ?? 0, "no output kept for worker pid \(pid)")
        }
        return (read.text, read.next, nil)
    }

    private func workerState(_ worker: WorkerHandle) -> WorkerState {
        WorkerState(
            workerID: worker.id, pid: worker.pid, nodeID: worker.node.id,
            kind: worker.isDriver ? "driver" : worker.actorID != nil ? "actor" : "task",
            actorID: worker.actorID.map { "\($0)" }, runningTasks: worker.running.count, alive: !worker.dead)
    }

    private func actorCallStates() -> [TaskState] {
        actors.all.flatMap { record in
            (Array(record.queue) + record.inFlightOrder.compactMap { record.inFlight[$0] }).map {
                $0.taskState(nil, node: record.holdingTarget?.node.id, pid: record.lastPID, attempt: Int($0.call.attempt))
            }
        }
    }

    private func actorState(_ record: ActorRecord) -> ActorState {
        let restarts = record.restarts
        let state: ActorState.State
        var cause: String?
        switch record.state {
        case .pending, .starting: state = restarts > 0 ? .restarting : .pendingCreation
        case .alive: state = .alive
        case .dead(let info):
            state = .dead
            cause = info.message
        }
        return ActorState(
            actorID: "\(record.id)", className: record.spec.className, name: record.spec.name, namespace: record.spec.namespace,
            state: state, nodeID: record.holdingTarget?.node.id, pid: record.lastPID, restarts: restarts,
            detached: record.spec.detached, deathCause: cause)
    }

    private func objectStates() -> [ObjectState] {
        var holders: [ObjectID: [Int32]] = [:]
        for worker in workers.all {
            for (id, count) in worker.holds { holders[id, default: []] += Array(repeating: worker.pid, count: count) }
        }
        return objects.entries().map { entry in
            var pids = holders[entry.id] ?? []
            if entry.holders > pids.count { pids += Array(repeating: getpid(), count: entry.holders - pids.count) }
            let stored = entry.location == "shared-memory" || entry.location == "spilled" ? [localNode.id] : []
            return ObjectState(
                objectID: "\(entry.id)", size: entry.size, location: entry.location, holders: entry.holders, pins: entry.pins,
                holderPIDs: pids, nodes: locations.holders(entry.id).map { $0.map(\.id) } ?? stored)
        }
    }

    private func placementGroupState(_ group: PlacementGroupRecord) -> PlacementGroupState {
        PlacementGroupState(
            placementGroupID: "\(group.spec.id)", name: group.spec.name, strategy: group.spec.strategy.rawValue,
            state: group.removed ? "REMOVED" : group.isPlaced ? "CREATED" : "PENDING", bundles: group.spec.bundles,
            bundleNodes: group.bundles.map(\.node.id))
    }
}

extension TaskRecord {
    /// Its state; `payload` is its result once finished.
    func taskState(_ payload: ObjectPayload?, spellingID: Bool = true) -> TaskState {
        let now: TaskState.State
        var error: String?
        switch (payload, state) {
        case (.error(let info)?, _):
            now = .failed
            error = info.errorType.isEmpty ? info.message : "\(info.errorType): \(info.message)"
        case (.value?, _): now = .finished
        case (nil, .waitingForArguments): now = .pendingArgsAvail
        case (nil, .queued): now = .pendingNodeAssignment
        case (nil, .running): now = .running
        }
        return TaskState(
            taskID: spellingID ? "\(id)" : "", name: spec.name, state: now, type: "NORMAL_TASK", nodeID: ranOn?.node, workerPID: ranOn?.pid,
            attempt: Int(spec.attempt), resources: spec.resources, submittedAt: submittedAt, startedAt: startedAt,
            endedAt: payload == nil ? nil : wallMicros(), error: error)
    }
}

extension CallRecord {
    func taskState(_ payload: ObjectPayload?, node: String?, pid: Int32?, attempt: Int, spellingID: Bool = true) -> TaskState {
        let now: TaskState.State
        var error: String?
        switch payload {
        case .error(let info)?:
            now = .failed
            error = info.errorType.isEmpty ? info.message : "\(info.errorType): \(info.message)"
        case .value?: now = .finished
        case nil: now = startedAt == nil ? (isReady ? .pendingNodeAssignment : .pendingArgsAvail) : .running
        }
        return TaskState(
            taskID: spellingID ? "\(call.callID)" : "", name: call.name, state: now, type: "ACTOR_TASK", nodeID: node, workerPID: pid,
            attempt: attempt, resources: [:], submittedAt: submittedAt, startedAt: startedAt,
            endedAt: payload == nil ? nil : wallMicros(), error: error)
    }
}

/// A finished task or actor call kept for the state API, its id spelled out when rendered.
struct FinishedTask {
    package let id: RayID
    let state: TaskState

    var rendered: TaskState {
        var state = state
        state.taskID = "\(id)"
        return state
    }
}
