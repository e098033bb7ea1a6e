import NIOCore
import RayPlatform
import RayWire

/// A change of the detached actors a head writes through to its state store.
package enum DetachedActorChange: Sendable {
    /// Created, or restarted (`spec.restarts` counts the restarts so far): what re-creates it, and
    /// the binary and environment its workers run.
    case alive(ActorSpec, WorkerPool)
    /// Its process runs (its constructor done): on a node other than the head's, or on the head's.
    case placed(RayID, remote: Bool)
    /// Dead for good (killed, or out of restarts): nothing to recover.
    case gone(RayID)
}

extension NodeManager {
    /// `body` as a callback any thread may call once something is stored: it runs on the loop.
    func onLoop(_ body: @escaping () -> Void) -> @Sendable () -> Void {
        let bound = NIOLoopBound(body, eventLoop: loop)
        let loop = self.loop
        return { loop.execute { bound.value() } }
    }

    /// Records a restarted detached actor's restart count.
    func journalRestart(_ record: ActorRecord) {
        guard record.spec.detached, let journal = detachedActorChanged else { return }
        var spec = record.spec
        spec.restarts = record.restarts
        journal(.alive(spec, record.pool)) {}
    }

    /// How long restored detached actors wait for their workers to re-attach before restarting.
    package static let reattachGrace: Duration = .seconds(2)

    /// Re-creates the detached actors a previous head recorded (before anything is served), each
    /// reachable under its name at once (calls queue). One that ran on another node (`remote`),
    /// or whose node was not recorded (nil: the head died first), waits up to `reattachGrace` for
    /// its worker, which outlives the head, to re-attach it with its state. One whose process went with the head (or did not come back) returns as a restart
    /// (state from its constructor) if it has restarts left; one without, or whose constructor
    /// took objects (gone with the old head), or whose binary is missing, is dropped with a log
    /// line saying why.
    package func restoreDetachedActors(_ entries: [(spec: ActorSpec, pool: WorkerPool, remote: Bool?)]) {
        loop.assertInEventLoop()
        var waiting: [RayID] = []
        for (spec, pool, remote) in entries {
            let record = ActorRecord(spec: spec, creatorWorkerID: 0, pool: pool)
            record.restarts = spec.restarts
            record.restartsLeft = spec.maxRestarts < 0 ? -1 : spec.maxRestarts - spec.restarts
            actors.add(record)
            addActorHandle(spec.actorID, holder: nil)
            if remote != false {
                record.awaitingReattach = true
                waiting.append(spec.actorID)
            } else {
                restartRestored(record)
            }
        }
        guard !waiting.isEmpty else { return }
        loop.scheduleTask(in: TimeAmount(Self.reattachGrace)) { [self, waiting] in
            for id in waiting { if let record = actors[id], record.awaitingReattach { restartRestored(record) } }
        }
    }

    /// How long a restored actor waits for its job's binary from the nodes before it is dropped.
    package static let binaryGrace: Duration = .seconds(20)

    /// A restored actor whose worker did not re-attach: restarted (once its binary is here, when
    /// `waitingForBinary`), or dropped.
    private func restartRestored(_ record: ActorRecord, waitingForBinary: Bool = true) {
        record.awaitingReattach = false
        let spec = record.spec
        if waitingForBinary, Self.binaryMissing(record.pool), binaryWanted != nil, Self.unrecoverable(spec, record.pool, checkingBinary: false) == nil {
            return awaitBinary(record)
        }
        if let reason = Self.unrecoverable(spec, record.pool) {
            logger.warning("detached actor \(spec.className) '\(spec.name)' (\(spec.actorID)) is not restored: \(reason)")
            record.killedForGood = true
            return markActorDead(record, ErrorInfo(kind: .actorDied, message: "the actor \(spec.className) did not survive a head restart: \(reason)", functionName: spec.className))
        }
        record.restarts = spec.restarts + 1
        record.restartsLeft = spec.maxRestarts < 0 ? -1 : spec.maxRestarts - record.restarts
        journalRestart(record)
        logger.info("restarting detached actor \(spec.className) '\(spec.name)' recorded by the previous head (restart \(record.restarts))")
        placeActor(record)
    }

    /// A worker that outlived the previous head on `node` re-attaches the actor it hosts: a
    /// restored detached actor, or one that is not detached (`spec`, which only the previous head
    /// knew: it waits for its owner, see `awaitOwner`). The actor keeps its process, state and
    /// restart count, and holds its resources there again. `welcome` goes to the worker before
    /// the calls that waited.
    /// - Returns: the worker's handle; nil (the worker should exit) when no such actor waits for
    ///   it or its id is taken.
    package func reattachActor(
        _ actorID: RayID, spec: ActorSpec? = nil, workerID: Int, pid: Int32, on node: NodeRecord, channel: any Channel, welcome: WireMessage
    ) -> WorkerHandle? {
        loop.assertInEventLoop()
        workerAccountedFor(workerID)
        if actors[actorID] == nil, workers[workerID] == nil, let spec, spec.actorID == actorID, !spec.detached { awaitOwner(spec) }
        guard let record = actors[actorID], record.awaitingReattach, workers[workerID] == nil else { return nil }
        record.awaitingReattach = false
        let placement = record.spec.resources.isEmpty ? ["CPU": 1] : record.spec.resources
        let target = survivorTarget(placement, record.spec.strategy, on: node)
        target.take(record.spec.resources)
        record.holding = record.spec.resources
        record.holdingTarget = target
        let worker = WorkerHandle(id: workerID, pid: pid, node: node, pool: record.pool, role: .actor(actorID))
        worker.channel = channel
        worker.currentName = record.spec.className
        workers.reserveIDs(through: workerID)
        workers.add(worker)
        workers.registered(worker)
        record.state = .alive(workerID: workerID)
        record.lastPID = pid
        logger.info("\(record.spec.detached ? "detached actor" : "actor") \(record.spec.className) '\(record.spec.name)' re-attached from node \(node.id) (pid \(pid)), its state kept")
        send(welcome, to: worker)
        emitEarlyOutput(of: worker)
        pumpCalls(record)
        return worker
    }

    /// What a rejoining node's store kept. An object this head does not know (a previous head
    /// recorded it) is adopted as stored there, with the refs the previous head recorded inside it
    /// (`KeptContainedRefs`), and held for `reattachGrace`, so the refs the node's
    /// re-attaching actors report claim it; it is freed after that if none did. A copy of an object
    /// known to be on other nodes is recorded (objects never change); any other is stale.
    /// - Returns: the stale copies, for the node to remove.
    package func adoptStoredObjects(_ stored: [StoredObject], on node: NodeRecord) -> [ObjectID] {
        loop.assertInEventLoop()
        var adopted: [ObjectID] = []
        var stale: [ObjectID] = []
        for object in stored {
            guard objects.contains(object.id) else {
                objects.create(object.id)  // the hold the grace below releases
                locations.storedRemotely(object.id, on: node)
                let refs = adoptedContainedRefs(of: object.id)
                finishObject(object.id, .value(EncodedValue(bytes: [], refs: refs, shared: object.id, sharedSize: object.size)))
                payOwedPins(to: object.id)
                adopted.append(object.id)
                continue
            }
            if objects.isRemote(object.id), objects.payload(object.id)?.size == object.size, !locations.has(object.id, on: node) {
                locations.copied(object.id, to: node, local: localNode)
            } else if !locations.has(object.id, on: node) {
                stale.append(object.id)
            }
        }
        guard !adopted.isEmpty else { return stale }
        logger.info("node \(node.id) kept \(adopted.count) objects through the head's absence; they stay while their holders re-attach")
        loop.scheduleTask(in: TimeAmount(Self.reattachGrace)) { [self, adopted] in
            for id in adopted where objects.releaseHolder(id) { freeIfUnused([id]) }
        }
        return stale
    }

    /// Reserves again the detached placement groups a previous head recorded (before anything is
    /// served) once the recovery window ends: the group's actors and tasks that outlived the
    /// previous head have re-attached by then, and its bundles go on their nodes (`StrayLease`).
    package func restoreDetachedGroups(_ specs: [PlacementGroupSpec]) {
        loop.assertInEventLoop()
        for spec in specs where placementGroups[spec.id] == nil {
            placementGroups.add(spec)
            placementGroups[spec.id]?.heldUntilRecovered = true
            logger.info("reserving detached placement group '\(spec.name)' (\(spec.id)) recorded by the previous head")
        }
        afterRecoveryWindow { [self] in  // on the loop
            for spec in specs { placementGroups[spec.id]?.heldUntilRecovered = false }
            placePendingGroups()
        }
    }

    /// A head started on another machine lacks the job's binary: the nodes that ran the job keep a
    /// copy, which it asks for; the actor restarts when one arrives, or is dropped after `binaryGrace`.
    private func awaitBinary(_ record: ActorRecord) {
        record.awaitingBinary = true
        let hash = record.pool.binaryHash
        logger.info("detached actor \(record.spec.className) '\(record.spec.name)' waits for its job's binary \(hash) from the nodes")
        if missingBinaries.insert(hash).inserted { binaryWanted?(hash) }
        let id = record.spec.actorID
        loop.scheduleTask(in: TimeAmount(Self.binaryGrace)) { [self] in
            guard let record = actors[id], record.awaitingBinary else { return }
            record.awaitingBinary = false
            if !actors.all.contains(where: { $0.awaitingBinary && $0.pool.binaryHash == hash }) { missingBinaries.remove(hash) }
            restartRestored(record, waitingForBinary: false)  // dropped: the binary is still missing
        }
    }

    /// A job binary a restored actor waited for is back in this head's cache: those actors restart.
    package func binaryArrived(_ hash: String) {
        loop.assertInEventLoop()
        missingBinaries.remove(hash)
        for record in actors.all where record.awaitingBinary && record.pool.binaryHash == hash {
            record.awaitingBinary = false
            restartRestored(record)
        }
    }

    private static func binaryMissing(_ pool: WorkerPool) -> Bool {
        !pool.executable.isEmpty && !pool.binaryHash.isEmpty && access(pool.executable, X_OK) != 0
    }

    private static func unrecoverable(_ spec: ActorSpec, _ pool: WorkerPool, checkingBinary: Bool = true) -> String? {
        if spec.maxRestarts >= 0, spec.restarts >= spec.maxRestarts {
            return "its process died with the previous head and it has no restarts left (maxRestarts \(spec.maxRestarts))"
        }
        if !spec.args.flatMap(\.heldRefs).isEmpty { return "its constructor's arguments were objects, gone with the previous head" }
        if checkingBinary, !pool.executable.isEmpty, access(pool.executable, X_OK) != 0 {
            return "its binary \(pool.executable) is gone (and no node had a copy)"
        }
        return nil
    }
}

/// Drivers that outlive their head (see `WorkerRuntime`'s session resumption).
extension NodeManager {
    /// Runs `body` once this head's recovery window is over: once every worker node the previous
    /// head recorded has rejoined and reported its store (`expectNodes`) and every worker they
    /// reported alive has re-attached or exited (`expectWorkers`), or `reattachGrace` after this
    /// head started at the latest, so that a resuming driver finds the objects they kept and the
    /// tasks they ran on instead of running those tasks again.
    package func afterRecoveryWindow(_ body: @escaping @Sendable () -> Void) {
        guard isRecovering else { return body() }
        if recoveryWaiters.isEmpty {
            loop.scheduleTask(deadline: startedAt + TimeAmount(Self.reattachGrace)) { [self] in endRecoveryWindow() }
        }
        recoveryWaiters.append(body)
    }

    /// `afterRecoveryWindow` from the loop: the body runs at once when the window is closed (not a
    /// tick later, which would let what is handled next overtake it), else as the window closes,
    /// in order with what waited before it.
    func afterRecoveryWindowOnLoop(_ body: @escaping () -> Void) {
        guard isRecovering else { return body() }
        let bound = NIOLoopBound(body, eventLoop: loop)
        afterRecoveryWindow { bound.value() }
    }

    /// Whether this head's recovery window is still open (see `afterRecoveryWindow`), or what
    /// waited for it has not run yet (what comes after waits behind it: its grace can pass a
    /// moment before the timer that ends it fires).
    var isRecovering: Bool {
        if !recoveryWaiters.isEmpty { return true }
        return !(awaitedNodes.isEmpty && awaitedWorkers.isEmpty) && startedAt + TimeAmount(Self.reattachGrace) > .now()
    }

    /// The worker nodes a previous head recorded (call before serving): the recovery window waits
    /// for them.
    package func expectNodes(_ ids: [String]) {
        loop.assertInEventLoop()
        awaitedNodes = Set(ids)
    }

    /// A rejoining node's workers alive now: while the recovery window lasts, it waits for them.
    package func expectWorkers(_ ids: [Int]) {
        loop.assertInEventLoop()
        guard startedAt + TimeAmount(Self.reattachGrace) > .now() else { return }
        awaitedWorkers.formUnion(ids)
    }

    /// A rejoining node reported what its store kept.
    package func nodeReported(_ id: String) {
        guard awaitedNodes.remove(id) != nil else { return }
        endRecoveryWindowIfSettled()
    }

    /// A worker a rejoining node reported alive re-attached (or tried to), or exited.
    package func workerAccountedFor(_ id: Int) {
        guard awaitedWorkers.remove(id) != nil else { return }
        endRecoveryWindowIfSettled()
    }

    /// Ends the window once nothing is awaited, after the message that settled it is handled (a
    /// re-attaching worker is accounted for before its work is registered).
    private func endRecoveryWindowIfSettled() {
        guard awaitedNodes.isEmpty && awaitedWorkers.isEmpty else { return }
        loop.execute { [self] in endRecoveryWindow() }
    }

    private func endRecoveryWindow() {
        awaitedNodes = []
        awaitedWorkers = []
        let waiting = recoveryWaiters
        recoveryWaiters = []
        for body in waiting { body() }
    }

    /// A driver that outlived its head carries its session on here (as does a worker on another
    /// node that re-attached its actor or tasks: it owns what they submitted). Every ref it holds is counted
    /// again; of the tasks behind them (its lineage), those a worker that outlived the head too
    /// re-attached go on there (`adoptSurvivingTask`); those whose results this head does not have
    /// run again (unless they may not: `maxRetries` 0, at most once, and a read of their result
    /// fails as for any lost object); the others stay as lineage, so that results held only on
    /// another node are rebuilt if that node is lost later.
    /// - Returns: how many tasks run again.
    @discardableResult
    package func resumeSession(held: [ObjectID], lineage specs: [TaskSpec], of owner: WorkerHandle) -> Int {
        loop.assertInEventLoop()
        guard owner.isDriver else {
            // A worker re-attaches once its own node is back: refs to objects other nodes
            // kept, and its lineage, wait for their stores (a driver waited before it was taken
            // back). A resubmission's own hold stands for its results.
            let waiting = held.filter { !objects.contains($0) }
            addRefsOnLoop(held, holder: owner)
            claimActors(held, for: owner)
            afterRecoveryWindowOnLoop { [self] in
                guard !owner.dead else { return }
                let outcome = carryOn(specs, of: owner)
                addRefsOnLoop(waiting.filter { outcome.holding[$0] == nil }, holder: owner)
                logResumed(owner, held: held.count, specs: specs.count, outcome)
            }
            return 0
        }
        let outcome = carryOn(specs, of: owner)
        var credited = outcome.holding  // holds a resubmission counted already
        var adds: [ObjectID] = []
        for id in held {
            if let count = credited[id], count > 0 { credited[id] = count - 1 } else { adds.append(id) }
        }
        addRefsOnLoop(adds, holder: owner)
        claimActors(held, for: owner)
        // A resubmitted task's results the driver no longer holds.
        releaseRefsOnLoop(credited.flatMap { id, count in repeatElement(id, count: count) }, holder: owner)
        logResumed(owner, held: held.count, specs: specs.count, outcome)
        return outcome.rerun
    }

    /// What a resumed lineage became: tasks carried on where they ran, tasks run again, and the
    /// holds `owner` got on their results by that.
    struct LineageOutcome {
        var carriedOn = 0
        var rerun = 0
        var holding: [ObjectID: Int] = [:]
    }

    /// Takes a resumed owner's lineage back: results this head has stay as lineage, tasks a
    /// surviving worker runs go on there, the others run again (unless `maxRetries` is 0).
    private func carryOn(_ specs: [TaskSpec], of owner: WorkerHandle) -> LineageOutcome {
        var outcome = LineageOutcome()
        for spec in specs {
            if spec.returnIDs.allSatisfy({ objects.contains($0) }) {
                keepLineage(of: spec, pool: owner.pool)
                settleSurvivingTask(spec.taskID, pool: owner.pool.adding(spec.environment))
                continue
            }
            if adoptSurvivingTask(spec, of: owner) {
                outcome.carriedOn += 1
            } else if spec.maxRetries != 0 {
                var again = spec
                again.attempt += 1
                submitOnLoop(again, holder: owner)
                outcome.rerun += 1
            } else {
                continue
            }
            for id in spec.returnIDs { outcome.holding[id, default: 0] += 1 }
        }
        return outcome
    }

    private func logResumed(_ owner: WorkerHandle, held: Int, specs: Int, _ outcome: LineageOutcome) {
        logger.info("\(owner.isDriver ? "driver" : owner.actorID != nil ? "actor host" : "worker") pid \(owner.pid) resumed its session: \(held) refs, \(specs) tasks in its lineage, \(outcome.carriedOn) run on where they ran, \(outcome.rerun) running again")
    }

    /// A finished task's results kept elsewhere get their lineage back, as when it finished here.
    private func keepLineage(of spec: TaskSpec, pool: WorkerPool) {
        let record = TaskRecord(spec: spec, pool: pool.adding(spec.environment))
        for id in spec.returnIDs where lineage[id] == nil {
            guard let payload = objects.payload(id), keepsLineage(record, id, payload) else { continue }
            lineage[id] = record
            pin(spec.heldRefs)
        }
    }
}
