import CRayShims
import Dispatch
import NIOCore
import NIOPosix
import RayNode
import RayJobs
import RayObjectStore
import RayPlatform
import RayTransport
import RayWire
import Synchronization

/// A worker node (`swiftray start --address HOST:PORT`): joins the head with this machine's
/// resources, starts worker processes when the head asks (fetching and caching the job's binary
/// first), forwards their output, reports their exits and heartbeats. Its workers die with it.
///
/// When the head is lost (it restarted, or a partition cut the link) the node keeps trying to join
/// again for `reconnectTimeout` under the id it had; `closed` completes once it gives up. Its
/// workers hosting detached actors wait to re-attach them, those running tasks finish them and
/// hand their results over, the others exit. Its store is kept: the node reports what it holds,
/// and a restarted head adopts the objects its re-attached workers and resumed drivers still hold
/// (Ray's raylets likewise outlive a GCS restart).
///
/// The node has its own shared-memory store: its workers write large values there and read them
/// there; its object server serves them to other nodes, and the head has it pull other nodes'
/// objects in when its workers need them, and remove copies once objects are freed.
package final class NodeDaemon: @unchecked Sendable {
    let files: ClusterFiles
    let resources: ResourceSet
    let token: String
    let headAddress: String
    let heartbeatInterval: TimeAmount
    /// How long a node that lost its head keeps trying to rejoin.
    let reconnectTimeout: Duration
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let logger = RayLog.logger
    /// Completes when the node gives up on its head (or is stopped).
    private let finished: EventLoopPromise<Void>
    /// The node's store (nil if it could not be created: objects then reach its workers inline).
    private var directory: SharedObjectDirectory?
    private var objectServer: ObjectServer?
    private var puller: ObjectPuller?
    /// Keeps the store within its capacity by spilling to disk (the head's node manager does it for
    /// the head's store).
    private var spiller: StoreSpiller?
    private var connection: HeadConnection?
    // Loop-confined:
    private var heartbeat: RepeatedTask?
    private var memoryMonitor: RepeatedTask?
    private var stopping = false
    private var nodeID = ""
    private var workers: [Int: Int32] = [:]
    private var waitingForBinary: [String: [StartWorker]] = [:]
    private var downloads: [String: BinaryUpload] = [:]
    /// Cleared as the node stops: what other threads (worker reapers, job entrypoints) hand to the
    /// loop after that is dropped, as a loop that has shut down must not be given work.
    private let loopOpen = Mutex(true)
    /// Workers' output while the head is away (nil: connected), sent once this node rejoins.
    private var heldOutput: HeldOutput?
    /// Job entrypoints the head placed here (their resources were set aside on this node).
    private lazy var entrypoints = NodeEntrypoints(folder: "\(files.root)/jobs") { [unowned self] message in
        self.onLoop { self.connection?.send(.control(message)) }
    }

    /// - Parameters:
    ///   - objectStoreMemory: the store's capacity in bytes (nil: 30% of this machine's memory).
    ///   - reconnectTimeout: how long to keep trying to rejoin after losing the head (zero: leave at once).
    package init(
        headAddress: String, token: String, resources: ResourceSet, files: ClusterFiles, objectStoreMemory: Int? = nil,
        heartbeatInterval: Duration = .milliseconds(500), reconnectTimeout: Duration = .seconds(60)
    ) {
        self.headAddress = headAddress
        self.token = token
        self.resources = resources
        self.files = files
        self.heartbeatInterval = TimeAmount(heartbeatInterval)
        self.reconnectTimeout = reconnectTimeout
        finished = group.next().makePromise()
        let capacity = objectStoreMemory ?? Int(Double(physicalMemoryBytes()) * 0.3)
        directory = .forNode("node-\(getpid())", capacity: capacity)
    }

    /// Joins the head; returns this node's id. Serving continues until `closed` completes.
    /// - Throws: `ClusterError` when the head cannot be reached, refuses the token, or its TLS
    ///   certificate is not the one this node trusts (`SWIFTRAY_TLS_CA_FILE`).
    package func join() async throws -> String {
        let address = try ClusterAddress.resolve(headAddress, files: files)
        let clientTLS = try TLSSupport.client(files: files)
        let info = NodeInfo(resources: resources, host: HeadConnection.hostName, rejoining: try await rejoining())
        let hello = Hello(token: token, role: .node(info), pid: getpid(), host: HeadConnection.hostName)
        let connection = try await HeadConnection.connect(host: address.host, port: address.port, hello: hello, group: group, tls: clientTLS)
        guard case .welcome(let welcome) = try await connection.nextControl() else {
            connection.close()
            throw ClusterError("the head did not welcome this node")
        }
        let loop = connection.channel.eventLoop
        try await loop.submit {
            self.connection = connection
            self.nodeID = welcome.nodeID
            self.sendHeldOutput(over: connection)  // first: the head keeps it for the workers that re-attach
        }.get()
        // The object server is announced before any request of the head's is handled.
        if welcome.objectPort == nil {
            logger.info("the head serves no objects: large objects reach this node inline")
            directory?.removeAll()
            directory = nil
        } else if let port = await startObjectServer(welcome, clientTLS: clientTLS) {
            connection.send(.control(.objectServer(port: port)))
        }
        // The head lets this node's workers re-attach once it knows what the store kept.
        if info.rejoining != nil { connection.send(.control(.storedObjects(directory?.storedObjects() ?? []))) }
        connection.route({ self.handle($0) }, onClose: { self.headGone(connection) })
        try await loop.submit {
            self.heartbeat = loop.scheduleRepeatedTask(initialDelay: self.heartbeatInterval, delay: self.heartbeatInterval) { _ in
                connection.send(.control(.heartbeat))
            }
            self.memoryMonitor?.cancel()
            self.memoryMonitor = Self.watchMemory(on: loop, connection: connection)
        }.get()
        return welcome.nodeID
    }

    /// Completes when the node has left its cluster for good: stopped, or its head lost for longer
    /// than `reconnectTimeout`.
    package var closed: EventLoopFuture<Void> { finished.futureResult }

    /// Kills every worker of this node and leaves the cluster.
    package func stop() async {
        try? await group.next().submit {
            self.stopping = true
            self.killAll()
            self.finished.succeed()
        }.get()
        connection?.close()
        spiller?.stop()
        await objectServer?.shutdown()
        loopOpen.withLock { $0 = false }
        try? await group.shutdownGracefully()
        directory?.removeAll()
    }

    /// Creates the store and serves it on any free port of every interface (over TLS with the
    /// cluster's certificate when the head sent one); nil if it cannot. A node that rejoins keeps
    /// its server and what its store holds.
    private func startObjectServer(_ welcome: Welcome, clientTLS: (any ChannelSecurity)?) async -> Int? {
        guard let directory else { return nil }
        if let objectServer, let port = objectServer.port { return port }
        do {
            SharedObjectDirectory.removeStale()
            try directory.create()
            var serverTLS: (any ChannelSecurity)?
            if let certificate = welcome.tlsCertificate, let key = welcome.tlsKey {
                serverTLS = try TLSSupport.server(certificatePEM: certificate, keyPEM: key)
            }
            let server = ObjectServer(directory: directory, token: token, tls: serverTLS)
            let port = try await server.start(host: "0.0.0.0")
            objectServer = server
            puller = ObjectPuller(directory: directory, token: token, group: server.group, tls: clientTLS)
            let spiller = StoreSpiller(directory: directory)
            spiller.start()
            self.spiller = spiller
            return port
        } catch {
            logger.error("the node's object store cannot start: \(error); large objects reach its workers inline")
            self.directory = nil
            return nil
        }
    }

    private func handle(_ message: WireMessage) {
        guard case .control(let control) = message else { return }
        switch control {
        case .startWorker(let request):
            start(request)
        case .killWorker(let id):
            if let pid = workers[id] { kill(pid, SIGKILL) }
        case .binaryChunk(let hash, let bytes, let last):
            received(hash, bytes, last: last)
        case .fetchBinary(let hash):
            // A head started on another machine wants a job binary back (an empty last chunk if
            // this node has no copy).
            if let channel = connection?.channel { BinaryUpload.send(hash: hash, from: files.binary(hash), over: channel, logger: logger) }
        case .pullObject(let id, let size, let host, let port):
            pull(id, size: size, host: host, port: port)
        case .freeObjects(let ids):
            for id in ids {
                directory?.remove(id)
                directory?.removeSpilled(id)
            }
        case .runEntrypoint(let launch):
            entrypoints.run(launch, environment: [
                "SWIFTRAY_ADDRESS": headAddress, "RAY_ADDRESS": headAddress, "SWIFTRAY_TOKEN": token,
                "SWIFTRAY_TEMP_DIR": files.root, "SWIFTRAY_NODE_ID": nodeID,
            ])
        case .stopEntrypoint(let jobID):
            entrypoints.stop(jobID)
        default:
            logger.warning("node daemon: unexpected message from the head")
        }
    }

    /// Copies an object into this node's store for the head ("" host: the head's own).
    private func pull(_ id: ObjectID, size: Int, host: String, port: Int) {
        guard let puller else {
            connection?.send(.control(.objectPulled(id: id, error: "node \(nodeID) has no object store", sourceLost: false)))
            return
        }
        let source = host.isEmpty ? (try? ClusterAddress.resolve(headAddress, files: files).host) ?? "" : host
        puller.pull(id, size: size, host: source, port: port).whenComplete { [self] result in
            var error: String?
            var sourceLost = false
            if case .failure(let failure) = result {
                error = "\(failure)"
                sourceLost = (failure as? ObjectPullError)?.sourceLost ?? false
            }
            connection?.send(.control(.objectPulled(id: id, error: error, sourceLost: sourceLost)))
        }
    }

    private func start(_ request: StartWorker) {
        let path = files.binary(request.binaryHash)
        if access(path, X_OK) == 0 { return spawn(request, executable: path) }
        let first = waitingForBinary[request.binaryHash] == nil
        waitingForBinary[request.binaryHash, default: []].append(request)
        if first {
            logger.info("fetching job binary \(request.binaryHash) from the head")
            connection?.send(.control(.fetchBinary(hash: request.binaryHash)))
        }
    }

    private func received(_ hash: String, _ bytes: [UInt8], last: Bool) {
        do {
            if downloads[hash] == nil {
                downloads[hash] = try BinaryUpload(hash: hash, size: BinaryHash.size(of: hash), path: files.binary(hash))
            }
            try downloads[hash]!.append(bytes)
            guard last else { return }
            try downloads.removeValue(forKey: hash)!.finish()
            for request in waitingForBinary.removeValue(forKey: hash) ?? [] { spawn(request, executable: files.binary(hash)) }
        } catch {
            logger.error("cannot fetch job binary \(hash): \(error)")
            downloads.removeValue(forKey: hash)?.abandon()
            for request in waitingForBinary.removeValue(forKey: hash) ?? [] { exited(request.workerID, code: 127) }
        }
    }

    private func spawn(_ request: StartWorker, executable: String) {
        let launched: WorkerLauncher.Launched
        do {
            launched = try WorkerLauncher.launchConnecting(
                executable: executable, workerID: request.workerID, nodeID: nodeID, head: headAddress, token: token,
                objectDirectory: directory, variables: request.environment)
        } catch {
            logger.error("\(error)")
            return exited(request.workerID, code: 127)
        }
        let id = request.workerID
        workers[id] = launched.pid
        guard let loop = connection?.channel.eventLoop else { return }
        for (fd, isError) in [(launched.stdoutFD, false), (launched.stderrFD, true)] {
            LineForwarder.attach(fd: fd, on: loop) { [self] line in
                let message = ControlMessage.output(workerID: id, text: line, isError: isError)
                if heldOutput == nil { connection?.send(.control(message)) } else { heldOutput?.append(message) }
            }
        }
        DispatchQueue.global().async { [self] in
            var status: Int32 = 0
            _ = retryingOnInterrupt { waitpid(launched.pid, &status, 0) }
            let code = swiftray_wait_status_code(status)
            onLoop { self.exited(id, code: code) }
        }
    }

    private func exited(_ id: Int, code: Int32) {
        if let pid = workers.removeValue(forKey: id) { directory?.removeUnsealed(by: pid) }
        connection?.send(.control(.workerExited(workerID: id, code: code)))
    }

    /// What a node that joined before tells the head when it joins again: its id, which its
    /// workers that outlived the head present when they re-attach, and those workers.
    private func rejoining() async throws -> NodeInfo.Rejoining? {
        try await group.next().submit {
            self.nodeID.isEmpty ? nil : NodeInfo.Rejoining(nodeID: self.nodeID, workers: Array(self.workers.keys))
        }.get()
    }

    /// The head's connection closed: try to join again. Workers decide for themselves: those
    /// hosting detached actors or running tasks that can do without the head wait to re-attach
    /// them to a restarted head, the rest exit.
    private func headGone(_ lost: HeadConnection) {
        guard lost === connection else { return }
        heartbeat?.cancel()
        memoryMonitor?.cancel()
        memoryMonitor = nil
        heartbeat = nil
        heldOutput = heldOutput ?? HeldOutput()
        entrypoints.stopAll()
        waitingForBinary = [:]
        for download in downloads.values { download.abandon() }
        downloads = [:]
        guard !stopping else { return }
        guard reconnectTimeout > .zero else {
            logger.warning("lost the connection to the head; stopping this node")
            killAll()
            return finished.succeed()
        }
        logger.warning("lost the connection to the head; trying to rejoin for \(reconnectTimeout)")
        Task { await self.rejoin() }
    }

    /// Runs `body` on the node's loop (from another thread), unless the node has stopped.
    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        loopOpen.withLock { open in
            if open { group.next().execute(body) }
        }
    }

    /// What the workers printed while the head was away goes to the head that took this node back
    /// (which keeps it for the workers that re-attach), with a note of lines dropped beyond the bound.
    private func sendHeldOutput(over connection: HeadConnection) {
        guard let held = heldOutput else { return }
        heldOutput = nil
        for message in held.messages { connection.send(.control(message)) }
        if held.dropped > 0 { logger.warning("\(held.dropped) lines of worker output were dropped while the head was away") }
    }

    /// Tries to join until it succeeds or `reconnectTimeout` has passed (`ReconnectBackoff`: every
    /// 50 ms for 2 s, then backing off to once a second).
    private func rejoin() async {
        let deadline = ContinuousClock.now + reconnectTimeout
        var lastError = ""
        var backoff = ReconnectBackoff()
        while ContinuousClock.now < deadline {
            await backoff.wait()
            guard await isRunning() else { return }
            do {
                let id = try await join()
                logger.info("rejoined the cluster as node \(id)")
                return
            } catch {
                lastError = "\(error)"
            }
        }
        logger.error("could not rejoin the head within \(reconnectTimeout) (last error: \(lastError)); leaving")
        finished.succeed()
    }

    private func isRunning() async -> Bool {
        (try? await group.next().submit { !self.stopping }.get()) ?? false
    }

    /// This machine's memory monitor: usage above the threshold goes to the head, which picks the
    /// task whose worker to kill here (it knows what runs where).
    private static func watchMemory(on loop: any EventLoop, connection: HeadConnection) -> RepeatedTask? {
        guard let every = MemoryMonitorSettings.interval.map(TimeAmount.init) else { return nil }
        let threshold = MemoryMonitorSettings.threshold
        return loop.scheduleRepeatedTask(initialDelay: every, delay: every) { _ in
            guard let usage = MemoryUsage.current(), usage.fraction > threshold else { return }
            connection.send(.control(.memoryPressure(used: usage.used, total: usage.total, threshold: threshold)))
        }
    }

    private func killAll() {
        for pid in workers.values { kill(pid, SIGKILL) }
        entrypoints.stopAll()
    }
}

/// Worker output kept while the head is away: the latest `limit` lines (Ray's log monitor likewise
/// reads workers' log files once it is back).
struct HeldOutput {
    static let limit = 10_000
    private(set) var messages = CircularBuffer<ControlMessage>()
    private(set) var dropped = 0

    mutating func append(_ message: ControlMessage) {
        if messages.count >= Self.limit {
            messages.removeFirst()
            dropped += 1
        }
        messages.append(message)
    }
}
