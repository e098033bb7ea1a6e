import NIOCore
import RayWire

/// Tasks that ran on through the head's absence on other nodes, as their workers re-attached them:
/// each waits for its driver to hand its spec back (`resumeSession`), which binds it to that
/// worker instead of running it again (the actors such workers re-attach wait for their drivers
/// below). Confined to the node manager's loop.
struct SurvivingTasks {
    /// The tasks re-attached workers run whose specs no driver has handed back yet: each one's worker.
    private var unclaimed: [TaskID: Int] = [:]
    /// Results of those that finished before their specs came back.
    private var early: [TaskID: [ObjectPayload]] = [:]

    mutating func add(_ id: TaskID, worker: Int) { unclaimed[id] = worker }

    /// Keeps a result that arrived before its task's spec (true), if the task is `worker`'s.
    mutating func holdEarly(_ id: TaskID, _ payloads: [ObjectPayload], from worker: Int) -> Bool {
        guard unclaimed[id] == worker else { return false }
        early[id] = payloads
        return true
    }

    /// A driver handed the task's spec back: its worker, and its results if they came first.
    mutating func claim(_ id: TaskID) -> (worker: Int, early: [ObjectPayload]?)? {
        guard let worker = unclaimed.removeValue(forKey: id) else { return nil }
        return (worker, early.removeValue(forKey: id))
    }

    /// Forgets `worker`'s unclaimed tasks; returns the results that came for them.
    mutating func drop(worker: Int) -> [ObjectPayload] {
        let ids = unclaimed.filter { $0.value == worker }.map(\.key)
        for id in ids { unclaimed[id] = nil }
        return ids.flatMap { early.removeValue(forKey: $0) ?? [] }
    }

    func hasUnclaimed(worker: Int) -> Bool { unclaimed.values.contains(worker) }
}

extension NodeManager {
    /// How long a re-attached worker's tasks wait for their drivers to resume (as long as a driver
    /// waits for its head by default); then the worker is stopped and those results are dropped.
    package static let unclaimedGrace: Duration = .seconds(60)

    /// The pool of a worker that outlived its head: not known here, so the worker takes no new
    /// tasks (it is `retiring`) and is stopped once its own are done.
    static let survivorPool = WorkerPool(executable: "")

    /// A task worker that outlived the previous head on `node` re-attaches the tasks it was sent
    /// (running, queued, or finished with their results following). Each is bound to it as its
    /// driver hands the spec back, or at once when that driver resumed first (its copy waits here).
    /// `welcome` goes to the worker first.
    /// - Returns: the worker's handle; nil (the worker should exit) when one of its tasks already
    ///   runs again elsewhere (its results would be written twice) or its id is taken.
    package func reattachTaskWorker(
        _ id: Int, pid: Int32, tasks taskIDs: [TaskID], on node: NodeRecord, channel: any Channel, welcome: WireMessage
    ) -> WorkerHandle? {
        loop.assertInEventLoop()
        workerAccountedFor(id)
        guard workers[id] == nil, !taskIDs.isEmpty, !taskIDs.contains(where: runsAgain) else { return nil }
        let worker = WorkerHandle(id: id, pid: pid, node: node, pool: Self.survivorPool, role: .tasks)
        worker.channel = channel
        worker.retiring = true
        worker.outlivedHead = true
        worker.awaitingJob = true
        workers.reserveIDs(through: id)
        workers.add(worker)
        workers.registered(worker)
        send(welcome, to: worker)
        for taskID in taskIDs {
            if let record = tasks[taskID] {
                assign(record, to: worker, target: survivorTarget(record.spec.resources, record.spec.strategy, on: node))
                bindJob(of: worker, pool: record.pool)
            } else {
                survivors.add(taskID, worker: id)
            }
        }
        logger.info("worker \(id) on node \(node.id) (pid \(pid)) re-attached \(taskIDs.count) task(s) it ran through the head's absence")
        emitEarlyOutput(of: worker)
        loop.scheduleTask(in: TimeAmount(Self.unclaimedGrace)) { [self] in
            let unclaimed = survivors.drop(worker: id)
            unclaimed.forEach(discardUnlessAdopted)
            if let worker = workers[id] { stopSurvivorIfDone(worker) }
        }
        return worker
    }

    /// The task runs again on a worker (its driver resumed before the task's worker re-attached).
    private func runsAgain(_ id: TaskID) -> Bool {
        guard let record = tasks[id], case .running = record.state else { return false }
        return true
    }

    /// Where work that outlived the previous head and runs on `node` takes its lease: its bundle
    /// there, or the node itself (a stray lease, moved into the bundle once the group is reserved).
    func survivorTarget(_ demand: ResourceSet, _ strategy: SchedulingStrategy, on node: NodeRecord) -> LeaseTarget {
        if let bundle = leaseTargets(demand, strategy).first(where: { $0.node === node }) { return bundle }
        if case .placementGroup = strategy { mayHaveStrayLeases = true }
        return .node(node)
    }

    /// A resuming driver handed back the spec of a task a re-attached worker runs (or ran): it
    /// goes on there under the driver, as if the head had never gone. False: no worker has it.
    func adoptSurvivingTask(_ spec: TaskSpec, of driver: WorkerHandle) -> Bool {
        guard let claimed = survivors.claim(spec.taskID) else { return false }
        guard let worker = workers[claimed.worker], !worker.dead else {
            claimed.early?.forEach(discardUnlessAdopted)
            return false
        }
        for id in spec.returnIDs { createObject(id, holder: driver) }
        let record = TaskRecord(spec: spec, pool: driver.pool.adding(spec.environment), ownerID: driver.id)
        tasks[spec.taskID] = record
        pin(spec.heldRefs)
        assign(record, to: worker, target: survivorTarget(spec.resources, spec.strategy, on: worker.node))
        bindJob(of: worker, pool: record.pool)
        if let early = claimed.early { taskDone(spec.taskID, early, from: worker) }
        return true
    }

    /// The task's results were adopted from its node's store: what its worker hands over is
    /// that same storage, kept. `pool`: the task's, as its resuming driver handed it back.
    func settleSurvivingTask(_ id: TaskID, pool: WorkerPool) {
        guard let claimed = survivors.claim(id), let worker = workers[claimed.worker] else { return }
        bindJob(of: worker, pool: pool)
        stopSurvivorIfDone(worker)
    }

    /// A worker that outlived its head is stopped once it has nothing more to hand over.
    func stopSurvivorIfDone(_ worker: WorkerHandle) {
        guard worker.outlivedHead, !worker.dead, worker.running.isEmpty, !survivors.hasUnclaimed(worker: worker.id) else { return }
        send(.shutdown, to: worker)
    }

    /// Holds what a worker that outlived the previous head sends while its job is not known (true):
    /// from the first message that needs the job on (the lineage of what its tasks submitted, a
    /// submission, an actor's creation), everything but its tasks' results, in order, for
    /// `bindJob`. The refs it holds count at once (objects adopted from the stores are freed after a
    /// grace unless held), but for the results of its lineage, which wait with it.
    func holdsForJob(_ message: WireMessage, from worker: WorkerHandle) -> Bool {
        guard worker.awaitingJob else { return false }
        switch message {
        case .taskDone, .taskReturns:
            return false
        case .resumeSession(let held, let lineage) where worker.heldForJob.isEmpty:
            let made = Set(lineage.lazy.flatMap(\.returnIDs))
            addRefsOnLoop(held.filter { !made.contains($0) }, holder: worker)
            if !lineage.isEmpty { worker.heldForJob.append(.resumeSession(held: held.filter(made.contains), lineage: lineage)) }
            return true
        case .submit, .createActor, .resumeSession:
            worker.heldForJob.append(message)
            return true
        default:
            guard !worker.heldForJob.isEmpty else { return false }
            worker.heldForJob.append(message)
            return true
        }
    }

    /// A resuming driver claimed a task of a worker that outlived the previous head: the worker
    /// is of that task's job (`pool`), and what it sent meanwhile goes on as from any of its workers.
    func bindJob(of worker: WorkerHandle, pool: WorkerPool) {
        guard worker.awaitingJob else { return }
        worker.awaitingJob = false
        worker.pool = pool
        let held = worker.heldForJob
        worker.heldForJob = []
        if !held.isEmpty { logger.info("worker \(worker.id) (pid \(worker.pid)) belongs to a resumed driver's job; handling the \(held.count) message(s) it sent meanwhile") }
        for message in held { handle(message, from: worker) }
    }

    /// A surviving worker exited: its unclaimed tasks run again when their drivers resume.
    func survivorExited(_ worker: WorkerHandle) {
        survivors.drop(worker: worker.id).forEach(discardUnlessAdopted)
    }

    /// Frees a result's storage unless it is an object this head adopted from the node's store.
    private func discardUnlessAdopted(_ payload: ObjectPayload) {
        if let shared = payload.sharedObject, objects.contains(shared) { return }
        discardStorage(of: payload)
    }

    /// The creator of an actor that is not detached, re-attached by a worker that outlived the
    /// previous head, until its driver resumes.
    static let ownerResuming = -1

    /// An actor that is not detached re-attaches from a worker that outlived the previous head
    /// (which alone recorded it): reachable at once, it waits for its owner, a resuming driver
    /// holding a handle to it (`claimActors`). A handle is held for it meanwhile, released after
    /// `unclaimedGrace`: unclaimed, it then stops as any actor nobody holds. It is not restarted
    /// before it is claimed (its job's binary is not known here).
    func awaitOwner(_ spec: ActorSpec) {
        let record = ActorRecord(spec: spec, creatorWorkerID: Self.ownerResuming, pool: Self.survivorPool)
        record.restarts = spec.restarts
        record.restartsLeft = 0
        record.awaitingReattach = true
        actors.add(record)
        addActorHandle(spec.actorID, holder: nil)
        let id = spec.actorID
        loop.scheduleTask(in: TimeAmount(Self.unclaimedGrace)) { [self] in
            guard let record = actors[id], record.creatorWorkerID == Self.ownerResuming else { return }
            logger.warning("no driver claimed actor \(spec.className) \(id) re-attached after the head restarted; it stops")
            releaseRefsOnLoop([id], holder: nil)
        }
        logger.info("actor \(spec.className) \(id) (not detached) re-attaches from a worker that outlived the previous head; it waits for its driver")
    }

    /// A resuming driver holding handles to actors that re-attached without an owner becomes their
    /// owner: they live while it does, and restart from its job's binary.
    func claimActors(_ held: [ObjectID], for driver: WorkerHandle) {
        for id in Set(held) {
            guard let record = actors[id], record.creatorWorkerID == Self.ownerResuming else { continue }
            record.creatorWorkerID = driver.id
            record.pool = driver.pool.adding(record.spec.environment)
            let spec = record.spec
            record.restartsLeft = spec.maxRestarts < 0 ? -1 : max(spec.maxRestarts - record.restarts, 0)
            releaseRefsOnLoop([id], holder: nil)  // the driver's own handle keeps it now
            logger.info("driver pid \(driver.pid) owns actor \(spec.className) \(id) again")
        }
    }

    /// Leases of placement groups' work held from a node instead of a bundle (actors and tasks
    /// re-attached before their group was reserved again), by group.
    func strayLeases() -> [RayID: [StrayLease]] {
        guard mayHaveStrayLeases else { return [:] }
        var found: [RayID: [StrayLease]] = [:]
        defer { mayHaveStrayLeases = !found.isEmpty }
        for record in actors.all where !record.isDead {
            guard case .placementGroup(let group, let index) = record.spec.strategy, case .node(let node)? = record.holdingTarget else { continue }
            found[group, default: []].append(StrayLease(bundleIndex: index, node: node, amounts: record.holding) { record.holdingTarget = .bundle($0) })
        }
        for worker in workers.all where !worker.running.isEmpty && !worker.lent {
            guard case .placementGroup(let group, let index) = worker.leaseStrategy, case .node(let node)? = worker.leaseTarget,
                  let lease = worker.lease else { continue }
            found[group, default: []].append(StrayLease(bundleIndex: index, node: node, amounts: lease) { worker.leaseTarget = .bundle($0) })
        }
        return found
    }

    /// Lines a rejoining node sends for a worker not re-attached yet: what it printed while the
    /// head was away. Kept (at most `earlyOutputLimit` lines) while workers may still re-attach, and
    /// written once it does; dropped after `unclaimedGrace`.
    package func holdEarlyOutput(_ text: String, isError: Bool, from workerID: Int) {
        guard startedAt + TimeAmount(Self.unclaimedGrace) > .now(), earlyOutputLines < Self.earlyOutputLimit else { return }
        if earlyOutput.isEmpty {
            loop.scheduleTask(in: TimeAmount(Self.unclaimedGrace)) { [self] in
                earlyOutput = [:]
                earlyOutputLines = 0
            }
        }
        earlyOutput[workerID, default: []].append((text, isError))
        earlyOutputLines += 1
    }

    /// As many lines as a node keeps for its workers while the head is away (`HeldOutput.limit`).
    static let earlyOutputLimit = 10_000

    /// Writes what a re-attached worker printed before it re-attached.
    func emitEarlyOutput(of worker: WorkerHandle) {
        guard let lines = earlyOutput.removeValue(forKey: worker.id) else { return }
        earlyOutputLines -= lines.count
        for line in lines { emitOutput(line.text, isError: line.isError, from: worker) }
    }
}
