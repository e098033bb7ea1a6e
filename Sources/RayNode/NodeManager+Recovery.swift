import NIOCore
import RayPlatform
import RayWire

/// A change of the detached actors a head writes through to its state store.
package enum DetachedActorChange: Sendable {
    /// Created, or restarted (`spec.restarts` counts the restarts so far): what re-creates it, and
    /// the binary and environment its workers run.
    case alive(ActorSpec, WorkerPool)
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

    /// Re-creates the detached actors a previous head recorded (before anything is served). Their
    /// processes went with that head's session, so each comes back as a restart (state from its
    /// constructor), if it has restarts left; one without, or whose constructor took objects (gone
    /// with the old head), or whose binary is missing, is dropped with a log line saying why.
    /// - Returns: the actors dropped.
    package func restoreDetachedActors(_ entries: [(spec: ActorSpec, pool: WorkerPool)]) -> [RayID] {
        loop.assertInEventLoop()
        var dropped: [RayID] = []
        for (spec, pool) in entries {
            if let reason = Self.unrecoverable(spec, pool) {
                logger.warning("detached actor \(spec.className) '\(spec.name)' (\(spec.actorID)) is not restored: \(reason)")
                dropped.append(spec.actorID)
                detachedActorChanged?(.gone(spec.actorID)) {}
                continue
            }
            let record = ActorRecord(spec: spec, creatorWorkerID: 0, pool: pool)
            record.restarts = spec.restarts + 1
            record.restartsLeft = spec.maxRestarts < 0 ? -1 : spec.maxRestarts - record.restarts
            actors.add(record)
            addActorHandle(spec.actorID, holder: nil)
            journalRestart(record)
            logger.info("restarting detached actor \(spec.className) '\(spec.name)' recorded by the previous head (restart \(record.restarts))")
            placeActor(record)
        }
        return dropped
    }

    /// Reserves again the detached placement groups a previous head recorded (before anything is
    /// served); they wait for their bundles like new groups while the nodes rejoin.
    package func restoreDetachedGroups(_ specs: [PlacementGroupSpec]) {
        loop.assertInEventLoop()
        for spec in specs where placementGroups[spec.id] == nil {
            placementGroups.add(spec)
            logger.info("reserving detached placement group '\(spec.name)' (\(spec.id)) recorded by the previous head")
        }
        placePendingGroups()
    }

    private static func unrecoverable(_ spec: ActorSpec, _ pool: WorkerPool) -> String? {
        if spec.maxRestarts >= 0, spec.restarts >= spec.maxRestarts {
            return "its process died with the previous head and it has no restarts left (maxRestarts \(spec.maxRestarts))"
        }
        if !spec.args.flatMap(\.heldRefs).isEmpty { return "its constructor's arguments were objects, gone with the previous head" }
        if !pool.executable.isEmpty, access(pool.executable, X_OK) != 0 { return "its binary \(pool.executable) is gone" }
        return nil
    }
}
