import NIOCore
import NIOPosix
import RayPlatform
import RayTransport
import RayWire

/// What a driver connected to a cluster's head needs to reach it again after losing it: the address
/// and credentials it joined with, and its job.
struct DriverSession: Sendable {
    let host: String
    let port: Int
    let token: String
    let tls: (any ChannelSecurity)?
    let group: MultiThreadedEventLoopGroup
    let executable: String
    let job: JobRequest
    /// How long the driver waits for a restarted head before its session fails.
    let patience: Duration

    var address: String { "\(host):\(port)" }

    /// `SWIFTRAY_HEAD_RECONNECT_TIMEOUT_S` seconds (0: fail at once), else 60 s, as Ray's
    /// `gcs_rpc_server_reconnect_timeout_s`.
    static var configuredPatience: Duration {
        guard let text = getenvString("SWIFTRAY_HEAD_RECONNECT_TIMEOUT_S"), let seconds = Double(text), seconds >= 0 else {
            return .seconds(60)
        }
        return .milliseconds(Int64(seconds * 1000))
    }
}

/// A driver whose head went away, waiting for a restarted one.
struct AwaySession {
    let since = ContinuousClock.now
    /// Requests that waited for an answer when the head was lost: sent again to the new one.
    let waiting: Set<UInt64>
    /// What the session sent while away, in order.
    var parked: [WireMessage] = []
    /// More parked messages than this end the session (a program submitting without pause to a
    /// head that does not come back).
    static let maxParked = 1_000_000
}

extension WorkerRuntime {
    /// A driver's connection to its head closed (on the loop). With a session to resume, the
    /// driver keeps every request and ref, parks what it sends, and reconnects; otherwise (or once
    /// it gives up) everything fails with `HeadConnectionLostError`.
    func headLost() {
        guard let session, session.patience > .zero, !disconnecting, !headStopped, lost == nil else {
            return connectionLost(head: session?.address ?? "?")
        }
        guard away == nil else { return }
        switchChannel(to: nil)
        away = AwaySession(waiting: pending.keptIDs)
        RayLog.logger.warning("lost the cluster's head at \(session.address); keeping this driver's session for a restarted head (up to \(session.patience))")
        Task { await reconnect(session) }
    }

    /// Connects until a head takes the session back, or the patience runs out.
    private func reconnect(_ session: DriverSession) async {
        let deadline = ContinuousClock.now + session.patience
        var backoff = ReconnectBackoff()
        let hello = Hello(token: session.token, role: .resumingDriver, pid: getpid(), host: HeadConnection.hostName)
        while ContinuousClock.now < deadline {
            await backoff.wait()
            guard (try? await loop.submit { self.away != nil }.get()) == true else { return }  // shut down meanwhile
            let sockets = OwnSockets.current()
            defer { OwnSockets.keepFromChildren(openedSince: sockets) }
            guard let connection = try? await HeadConnection.connect(
                host: session.host, port: session.port, hello: hello, group: session.group, tls: session.tls) else { continue }
            do {
                _ = try await Self.registerJob(session.job, executable: session.executable, over: connection)
            } catch {
                connection.close()
                continue
            }
            let resumed = (try? await loop.submit { self.resumed(over: connection.channel) }.get()) ?? false
            guard resumed else { return connection.close() }
            connection.route({ self.handle($0) }, onClose: { self.headLost() })
            RayLog.logger.info("resumed this driver's session with the head at \(session.address)")
            return
        }
        loop.execute {
            guard self.away != nil else { return }
            self.away = nil
            self.connectionLost(head: session.address, waited: session.patience)
        }
    }

    /// Carries the session on over a connection to a restarted head (on the loop): the refs held
    /// and the lineage behind them first, then its placement groups (reserved again), then the
    /// requests that were waiting, then what was sent meanwhile (reference changes excepted: the
    /// held refs count them). False: the driver shut
    /// down meanwhile.
    private func resumed(over channel: any Channel) -> Bool {
        guard let away else { return false }
        self.away = nil
        reattach(channel, parked: away.parked)
        // Reserved again before anything that runs in them (creating a group the head has is a no-op).
        for spec in ownedGroups.values {
            send(.control(.placementGroup(requestID: pending.newID(), .create(spec))))
        }
        resend(after: away)
        return true
    }

    /// A driver's `get` or `wait` with a timeout times out here, a moment after the head would
    /// have answered, if its head is away then (the session waiting for a restarted one): the
    /// caller's timeout holds through an outage (on the loop, once the request is registered).
    func timeOutLocally(_ request: WireMessage) {
        let reply: WireMessage
        let millis: Int64
        switch request {
        case .get(let id, _, _, let timeout): (reply, millis) = (.getReply(requestID: id, results: nil), timeout)
        case .wait(let id, _, _, _, let timeout): (reply, millis) = (.waitReply(requestID: id, ready: []), timeout)
        default: return
        }
        guard millis >= 0, let id = reply.replyID else { return }
        loop.scheduleTask(in: .milliseconds(millis) + Self.localTimeoutSlack) { [self] in
            if away != nil, pending.isWaiting(id) { handle(reply) }  // a connected head answers itself
        }
    }

    /// How long after a request's timeout the driver gives up on the head's answer.
    static let localTimeoutSlack = TimeAmount.seconds(1)

    /// Keeps what a driver sends while its head is away (on the loop).
    func park(_ message: WireMessage) {
        guard away != nil else { return }
        away!.parked.append(message)
        guard away!.parked.count > AwaySession.maxParked, let session else { return }
        RayLog.logger.error("\(AwaySession.maxParked) messages waited for the head to come back; ending the session")
        away = nil
        connectionLost(head: session.address)
    }

    /// A task the process submitted (a driver, or a worker on another node): its spec is its
    /// results' lineage, kept while they are held (on the loop).
    func noteLineage(_ spec: TaskSpec) {
        lineage[spec.taskID] = spec
        guard lineage.count >= lineagePruneAt else { return }
        pruneLineage(keeping: references.heldObjects())
    }

    /// A placement group the driver created or removed (on the loop, once the head answered).
    func noteGroup(_ request: PlacementGroupRequest) {
        switch request {
        case .create(let spec) where !spec.detached: ownedGroups[spec.id] = spec
        case .remove(let id): ownedGroups[id] = nil
        default: break
        }
    }

    /// Forgets the specs none of whose results is held any more.
    func pruneLineage(keeping held: Set<ObjectID>) {
        lineage = lineage.filter { _, spec in spec.returnIDs.contains(where: held.contains) }
        lineagePruneAt = max(Self.minLineagePrune, lineage.count * 2)
    }

    static let minLineagePrune = 1024

    /// Presents the job to a head that welcomed the connection, uploading the executable if the
    /// head has not cached it; returns once the head is ready for the job.
    static func registerJob(_ job: JobRequest, executable: String, over connection: HeadConnection) async throws -> Welcome {
        guard case .welcome(let welcome) = try await connection.nextControl() else { throw ClusterError("the head did not welcome this driver") }
        connection.send(.control(.registerJob(job)))
        var reply = try await connection.nextControl()
        if case .needBinary = reply {
            try upload(executable, hash: job.binaryHash, over: connection)
            reply = try await connection.nextControl(timeout: .seconds(300))  // the head writes the whole binary first
        }
        guard case .jobReady = reply else { throw ClusterError("the head did not accept the job") }
        return welcome
    }
}
