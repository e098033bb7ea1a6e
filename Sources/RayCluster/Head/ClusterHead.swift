import Logging
import NIOCore
import NIOPosix
import RayNode
import RayObjectStore
import RayPlatform
import RayTransport
import RayWire
import Synchronization

/// The head of a multi-node cluster (`swiftray start --head`): this machine's node manager plus the
/// control plane on one TCP port. Every connection presents the cluster token first; then drivers
/// register their job (uploading their executable once, by content hash), node daemons join with
/// their resources and start workers on request, and those workers connect back. The scheduler and
/// the object table stay in the head's node manager: workers on other nodes are its workers too.
/// Large objects stay in the store of the node that made them; an object server per node serves
/// them, and the head has copies pulled to where they are needed (see `NodeManager+Transfer`).
package final class ClusterHead: @unchecked Sendable {
    package let manager: NodeManager
    private let autoscalerReport = Mutex<[String]>([])
    /// Told of what nodes report about the job entrypoints they run, and of nodes that die.
    private let entrypointEvents = Mutex<(@Sendable (EntrypointEvent) -> Void)?>(nil)
    package let files: ClusterFiles
    package let token: String
    /// Connections that have not presented the token yet (capped).
    let unauthenticated = ConnectionLimit()
    package let session: String
    /// A node not heard from for this long is declared dead.
    package let nodeTimeout: Duration
    /// The cluster's certificate and key when its links use TLS.
    package let tls: ClusterSecurity?
    let group: MultiThreadedEventLoopGroup
    /// Whether this head created (and so starts and stops) its node manager.
    private let ownsManager: Bool
    /// Whether it serves its store to other nodes (an embedded cluster's port does not: nodes that
    /// join one receive large objects inline).
    private let servesObjects: Bool
    let logger = RayLog.logger
    private var server: (any Channel)?
    /// Serves this node's store to other nodes.
    private var objectServer: ObjectServer?
    // Loop-confined:
    var nodeCount = 0
    var jobCount = 0
    var drivers: [Int: WorkerHandle] = [:]
    /// Hands node joins (true) and losses to the state store.
    var nodeChanged: (@Sendable (_ id: String, _ alive: Bool) -> Void)?
    /// Job binaries being fetched back from nodes (see ClusterHead+Binaries.swift).
    var binaryFetches: [String: BinaryFetch] = [:]
    /// The nodes already asked for each binary.
    var binaryAsked: [String: Set<String>] = [:]

    package convenience init(
        config: NodeConfig, files: ClusterFiles, token: String, session: String, nodeTimeout: Duration = .seconds(10), tls: ClusterSecurity? = nil
    ) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        if let directory = config.objectDirectory {
            SharedObjectDirectory.removeStale()
            try? directory.create()
        }
        self.init(
            manager: NodeManager(config: config, loop: group.next()), group: group, files: files, token: token, session: session,
            nodeTimeout: nodeTimeout, ownsManager: true, tls: tls)
    }

    /// Serves the cluster's port for an existing node manager (an embedded cluster's, which the
    /// caller starts and stops): drivers, nodes and the command line can then reach it.
    package init(
        manager: NodeManager, group: MultiThreadedEventLoopGroup, files: ClusterFiles, token: String, session: String,
        nodeTimeout: Duration = .seconds(10), ownsManager: Bool = false, tls: ClusterSecurity? = nil, servesObjects: Bool = true
    ) {
        self.tls = tls
        self.servesObjects = servesObjects
        self.manager = manager
        self.group = group
        self.files = files
        self.token = token
        self.session = session
        self.nodeTimeout = nodeTimeout
        self.ownsManager = ownsManager
        manager.remoteWorkerStarter = { [unowned self] id, pool, node, actorID in startRemoteWorker(id, pool, node, actorID) }
        manager.remoteWorkerKiller = { worker in
            worker.node.daemon?.writeAndFlush(WireMessage.control(.killWorker(workerID: worker.id)), promise: nil)
        }
        manager.outputSink = { [unowned self] text, isError, worker in forwardOutput(text, isError: isError, from: worker) }
        manager.binaryWanted = { [unowned self] hash in askNextNode(for: hash) }
    }

    /// Starts the node manager and listens on `host:port` (0: any free port); returns the port.
    /// - Throws: `ClusterError` for an unusable TLS certificate, or naming the address it cannot bind.
    package func start(host: String, port: Int) async throws -> Int {
        let serverTLS = tls?.server
        let clientTLS = tls?.client
        if ownsManager { manager.start() }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let limit = FrameSizeLimit.unauthenticated()
                    let handler = HeadPeerHandler(head: self, limit: limit)
                    try channel.pipeline.syncOperations.addWireHandlers(handler, tls: serverTLS, server: true, limit: limit)
                }
            }
        // Before any node can join: a node welcomed without the object server's port empties its
        // store (a node rejoining a restarted head would lose the objects it kept).
        try await startObjectServer(host: host, tls: (serverTLS, clientTLS))
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw ClusterError("cannot listen on \(host):\(port): \(error)")
        }
        server = channel
        let interval = max(nodeTimeout / 4, .milliseconds(50))
        manager.loop.scheduleRepeatedTask(initialDelay: TimeAmount(interval), delay: TimeAmount(interval)) { [self] task in
            if manager.shuttingDown { return task.cancel() }
            checkHeartbeats()
        }
        return channel.localAddress?.port ?? port
    }

    /// Serves the store to other nodes and pulls their objects into it (nodes without a store of
    /// their own, and drivers over the network, receive large objects inline instead).
    private func startObjectServer(host: String, tls: (server: (any ChannelSecurity)?, client: (any ChannelSecurity)?)) async throws {
        guard servesObjects, let directory = manager.config.objectDirectory else { return }
        let objectServer = ObjectServer(directory: directory, token: token, tls: tls.server)
        let port = try await objectServer.start(host: host)
        self.objectServer = objectServer
        let puller = ObjectPuller(directory: directory, token: token, group: objectServer.group, tls: tls.client)
        try await manager.loop.submit { [manager] in
            manager.objectServerPort = port
            manager.objectPuller = puller
        }.get()
    }

    /// Stops listening, stops every local worker and tells node daemons to stop theirs.
    package func shutdown() async {
        // What stopping does to actors and groups is not recorded: a head stopped to move (its
        // state in PostgreSQL) finds them as they were, and detached actors on other nodes
        // re-attach to it.
        try? await manager.loop.submit { [self] in
            manager.detachedActorChanged = nil
            manager.detachedGroupChanged = nil
        }.get()
        try? await server?.close()
        await objectServer?.shutdown()
        try? await manager.loop.submit { [self] in
            for node in manager.nodes where !node.isLocal { node.daemon?.close(promise: nil) }
        }.get()
        guard ownsManager else { return }
        try? await manager.shutdown().get()
        try? await group.shutdownGracefully()
        manager.config.objectDirectory?.removeAll()
    }

    // MARK: Nodes

    func nodeJoined(_ info: NodeInfo, address: String, channel: any Channel) -> NodeRecord {
        let node = NodeRecord(id: newNodeID(info), total: info.resources, isLocal: false, address: address)
        node.daemon = channel
        node.awaitingStoredObjects = info.rejoining != nil
        manager.expectWorkers(info.rejoining?.workers ?? [])
        manager.nodes.append(node)
        logger.info("node \(node.id) joined from \(address) with \(node.total.summary)")
        nodeChanged?(node.id, true)
        manager.requestSchedule()
        return node
    }

    /// A node rejoining a restarted head keeps the id it had; one this head already knows (it lost
    /// its link, not its head) gets a new one, as does every new node.
    private func newNodeID(_ info: NodeInfo) -> String {
        if let previous = info.rejoining?.nodeID, !manager.nodes.contains(where: { $0.id == previous }) {
            // "node-N-host": later nodes are numbered past it.
            let number = previous.split(separator: "-").dropFirst().first.flatMap { Int($0) } ?? 0
            nodeCount = Swift.max(nodeCount, number)
            return previous
        }
        nodeCount += 1
        return "node-\(nodeCount)-\(info.host)"
    }

    /// The node is gone: nothing more goes there, its workers count as dead (tasks retry, actors
    /// restart elsewhere when they may).
    func nodeDied(_ node: NodeRecord, reason: String) {
        guard node.alive else { return }
        node.alive = false
        node.available = [:]
        logger.warning("node \(node.id) is dead: \(reason)")
        nodeChanged?(node.id, false)
        node.daemon?.close(promise: nil)
        node.daemon = nil
        for worker in manager.workers.all where worker.node === node && !worker.dead {
            worker.channel?.close(promise: nil)
            manager.channelClosed(worker)
        }
        manager.nodeLostObjects(node)
        binaryFetchFailed(from: node, "the node died")
        manager.requestSchedule()
        entrypointEvent(.nodeDied(node.id))
    }

    private func checkHeartbeats() {
        let now = NIODeadline.now()
        for node in manager.nodes where !node.isLocal && node.alive && now - node.lastHeard > TimeAmount(nodeTimeout) {
            nodeDied(node, reason: "no heartbeat for \(nodeTimeout)")
        }
    }

    private func startRemoteWorker(_ id: Int, _ pool: WorkerPool, _ node: NodeRecord, _ actorID: RayID?) -> WorkerHandle? {
        guard let daemon = node.daemon, !pool.binaryHash.isEmpty else { return nil }
        let worker = WorkerHandle(id: id, pid: 0, node: node, pool: pool, role: actorID.map { .actor($0) } ?? .tasks)
        daemon.writeAndFlush(WireMessage.control(.startWorker(StartWorker(workerID: id, binaryHash: pool.binaryHash, name: "worker", environment: pool.environment))), promise: nil)
        return worker
    }

    /// A node's object server is up: its workers now read large objects from its own store.
    func nodeServesObjects(_ node: NodeRecord, port: Int, channel: any Channel) {
        guard manager.objectServerPort != nil, let ip = channel.remoteAddress?.ipAddress else { return }
        node.objectServer = (ip, port)
    }

    /// A node daemon reports a worker's exit (its connection may have closed already).
    func remoteWorkerExited(_ id: Int, code: Int32, on node: NodeRecord) {
        // The daemon outlived this worker: the node is healthy as far as this death goes.
        if node.unconfirmedDeaths.remove(id) != nil, node.unconfirmedDeaths.isEmpty { manager.requestSchedule() }
        manager.workerAccountedFor(id)
        guard let worker = manager.workers[id], worker.node === node, !worker.dead else { return }
        worker.dead = true
        worker.channel?.close(promise: nil)
        manager.workerExited(worker, code: code)
    }

    // MARK: Drivers and output

    /// A driver's job is registered: it becomes a peer of the node manager, running nothing.
    func driverJoined(pid: Int32, pool: WorkerPool, channel: any Channel) -> WorkerHandle {
        let id = manager.workers.newID()
        let driver = WorkerHandle(id: id, pid: pid, node: manager.localNode, pool: pool, role: .driver)
        driver.registered = true
        driver.channel = channel
        manager.workers.add(driver)
        drivers[id] = driver
        jobCount += 1
        manager.jobs[id] = JobState(
            jobID: jobCount < 10 ? "0\(jobCount)" : "\(jobCount)", driverPID: pid, status: "RUNNING", binary: pool.binaryHash,
            startedAt: wallMicros(), endedAt: nil)
        logger.info("driver pid \(pid) connected (job binary \(pool.binaryHash))")
        return driver
    }

    func driverLeft(_ driver: WorkerHandle) {
        drivers[driver.id] = nil
        manager.jobs[driver.id]?.status = "SUCCEEDED"
        manager.jobs[driver.id]?.endedAt = wallMicros()
        manager.channelClosed(driver)
        logger.info("driver pid \(driver.pid) disconnected")
        // Its tasks (and the tasks they started) go with it.
        manager.cancelTasks(ownedBy: driver.id)
        // Its job's idle workers have nothing left to do.
        guard !drivers.values.contains(where: { $0.pool == driver.pool }) else { return }
        // (Whatever runtime environment they run with: the same binary is the same job.)
        for worker in manager.workers.all where worker.pool.executable == driver.pool.executable && worker.isIdle {
            worker.retiring = true
            manager.send(.shutdown, to: worker)
        }
    }

    func forwardOutput(_ text: String, isError: Bool, from worker: WorkerHandle) {
        for driver in drivers.values where driver.pool == worker.pool {
            manager.send(.control(.output(workerID: worker.id, text: text, isError: isError)), to: driver)
        }
    }

    /// A state snapshot, taken on the scheduler's loop.
    package func state() async -> ClusterState {
        (try? await manager.loop.submit { self.manager.stateSnapshot() }.get()) ?? ClusterState()
    }

    /// Shows a submitted job in the state API (nil: it was deleted).
    package func recordSubmittedJob(_ id: String, _ job: JobState?) {
        manager.loop.execute { self.manager.submittedJobs[id] = job }
    }

    /// The key-value store (the dashboard's Serve REST API), on the scheduler's loop.
    package func keyValue(_ request: KVRequest) async throws -> KVReply {
        let manager = self.manager
        return await withCheckedContinuation { continuation in
            manager.loop.execute { manager.keyValue(request) { continuation.resume(returning: $0) } }
        }
    }

    /// A worker's kept output, read on the scheduler's loop.
    package func logs(_ query: LogsQuery) async -> (text: String, next: Int, error: String?) {
        (try? await manager.loop.submit { self.manager.logs(query) }.get()) ?? ("", 0, "the head is stopping")
    }

    func status() -> ClusterStatus {
        let stored = manager.storedPerNode()
        let nodes = manager.nodes.map { node in
            let workers = manager.workers.all.filter { $0.node === node && !$0.isDriver && !$0.dead }
            return ClusterStatus.Node(
                id: node.id, address: node.address, alive: node.alive, total: node.total,
                available: node.available, workers: workers.count, startingWorkers: workers.filter { !$0.registered }.count,
                storedObjects: stored[node.id]?.objects ?? 0, storedBytes: stored[node.id]?.bytes ?? 0)
        }
        var status = ClusterStatus(
            session: session, nodes: nodes, pendingTasks: manager.pendingTaskCount,
            pendingActors: manager.pendingActorCount, drivers: drivers.count, pendingDemands: manager.pendingDemands,
            infeasibleDemands: manager.infeasibleDemands)
        status.autoscaler = autoscalerReport.withLock { $0 }
        return status
    }

    // MARK: Autoscaling

    /// The cluster as the autoscaler sees it: its nodes (with what they store) and the demand
    /// waiting for resources, read on the scheduler's loop.
    package func autoscalingView() async -> (status: ClusterStatus, demands: [AutoscalingView.Demand]) {
        (try? await manager.loop.submit { (self.status(), self.manager.unmetDemands) }.get()) ?? (ClusterStatus(session: session, nodes: [], pendingTasks: 0, pendingActors: 0, drivers: 0), [])
    }

    /// Shapes the autoscaler can add nodes for wait for them instead of failing as infeasible.
    package func setAutoscalingNodeTypes(_ types: [[String: Double]]) {
        manager.loop.execute { self.manager.autoscalingNodeTypes = types }
    }

    /// Stops placing new work on `nodeID` (it is about to be removed).
    package func drain(_ nodeID: String) {
        manager.loop.execute { self.manager.nodes.first { $0.id == nodeID }?.draining = true }
    }

    /// What `swiftray status` shows under Autoscaler.
    package func setAutoscalerReport(_ lines: [String]) { autoscalerReport.withLock { $0 = lines } }

    /// A placement group operation from inside the head (a job's entrypoint reservation); nil or
    /// why it failed.
    package func placementGroup(_ request: PlacementGroupRequest) async -> ErrorInfo? {
        await withCheckedContinuation { continuation in
            manager.loop.execute { self.manager.placementGroupRequest(request) { continuation.resume(returning: $0) } }
        }
    }

    /// The node a placed group's first bundle is on; nil when that is the head's own node (or the
    /// group is gone).
    package func bundleNode(of group: RayID) async -> String? {
        let manager = self.manager
        let node = try? await manager.loop.submit { () -> String? in
            guard let node = manager.firstBundleNode(of: group), node !== manager.localNode else { return nil }
            return node.id
        }.get()
        return node ?? nil
    }

    /// Sends a control message to a live node's daemon.
    /// - Throws: `ClusterError` when the node is not alive.
    package func send(_ message: ControlMessage, toNode nodeID: String) async throws {
        let manager = self.manager
        try await manager.loop.submit {
            guard let daemon = manager.nodes.first(where: { $0.id == nodeID && $0.alive })?.daemon else {
                throw ClusterError("node \(nodeID) is not alive")
            }
            daemon.writeAndFlush(WireMessage.control(message), promise: nil)
        }.get()
    }

    /// Who hears what nodes report about job entrypoints (the job manager).
    package func onEntrypointEvents(_ handler: @escaping @Sendable (EntrypointEvent) -> Void) {
        entrypointEvents.withLock { $0 = handler }
    }

    func entrypointEvent(_ event: EntrypointEvent) {
        entrypointEvents.withLock { $0 }?(event)
    }

    /// Restores key-value `entries` a crashed head left (its state store) and hands every later
    /// change to `changed`, in order (call before `start`).
    package func persistKeyValues(
        restoring entries: [(space: String, key: String, value: [UInt8])],
        changed: @escaping @Sendable (KVRequest, _ stored: @escaping @Sendable () -> Void) -> Void
    ) async throws {
        let manager = self.manager
        try await manager.loop.submit {
            manager.restoreKeyValues(entries)
            manager.keyValueChanged = changed
        }.get()
        if !entries.isEmpty { logger.info("restored \(entries.count) key-value entries from the head's state store") }
    }

    /// Restores the refs a crashed head recorded inside objects kept in other nodes' stores (given
    /// back as the nodes report the objects) and hands every later change to `changed` (call
    /// before `start`).
    package func persistContainedRefs(
        restoring entries: [(object: ObjectID, refs: [ObjectID])],
        changed: @escaping @Sendable (ObjectID, [ObjectID]?, _ stored: @escaping @Sendable () -> Void) -> Void
    ) async throws {
        let manager = self.manager
        try await manager.loop.submit {
            manager.restoreContainedRefs(entries)
            manager.containedRefsChanged = changed
        }.get()
        if !entries.isEmpty { logger.info("restored the refs inside \(entries.count) objects kept on other nodes from the head's state store") }
    }

    /// Has the resuming drivers wait for the worker nodes a crashed head recorded (see
    /// `NodeManager.afterRecoveryWindow`), and hands every later join and loss of a node to
    /// `changed` (call before `start`).
    package func persistNodes(restoring ids: [String], changed: @escaping @Sendable (_ id: String, _ alive: Bool) -> Void) async throws {
        try await manager.loop.submit { [self] in
            manager.expectNodes(ids)
            nodeChanged = changed
        }.get()
    }

    /// Restores the detached actors a crashed head recorded (re-attached by workers that outlived
    /// it, or restarted; see `NodeManager.restoreDetachedActors`) and hands every later change of
    /// them to `changed`, in order (call before `start`).
    package func persistDetachedActors(
        restoring entries: [(spec: ActorSpec, pool: WorkerPool, remote: Bool?)],
        changed: @escaping @Sendable (DetachedActorChange, _ stored: @escaping @Sendable () -> Void) -> Void
    ) async throws {
        let manager = self.manager
        try await manager.loop.submit {
            // Workers that outlive this head keep their ids to re-attach: ids start past any a
            // previous head gave (microseconds since the epoch; no head starts a worker a microsecond).
            manager.workers.reserveIDs(through: Int(wallMicros()))
            manager.detachedActorChanged = changed
            manager.restoreDetachedActors(entries)
        }.get()
        if !entries.isEmpty {
            let remote = entries.filter { $0.remote != false }.count
            logger.info("restored \(entries.count) detached actors from the head's state store: \(remote) may re-attach from their nodes within \(NodeManager.reattachGrace), the rest restart")
        }
    }

    /// Reserves again the detached placement groups a crashed head recorded and hands every later
    /// creation or removal of one to `changed`, in order (call after `persistNodes`, whose nodes
    /// their bundles wait for, before `persistDetachedActors`, whose actors may live in them, and
    /// before `start`).
    package func persistDetachedGroups(
        restoring specs: [PlacementGroupSpec],
        changed: @escaping @Sendable (_ created: PlacementGroupSpec?, _ removed: RayID?, _ stored: @escaping @Sendable () -> Void) -> Void
    ) async throws {
        let manager = self.manager
        try await manager.loop.submit {
            manager.detachedGroupChanged = changed
            manager.restoreDetachedGroups(specs)
        }.get()
        if !specs.isEmpty { logger.info("reserving \(specs.count) detached placement groups from the head's state store") }
    }

    /// What an autoscaler outside the head asks for.
    func apply(_ update: AutoscalerUpdate) {
        if let types = update.nodeTypes { setAutoscalingNodeTypes(types) }
        for node in update.drain { drain(node) }
        if let report = update.report { setAutoscalerReport(report) }
    }
}

/// What the head hears about job entrypoints running on nodes.
package enum EntrypointEvent: Sendable {
    case output(jobID: String, bytes: [UInt8])
    case exited(jobID: String, code: Int32?, error: String?)
    case nodeDied(String)
}
