import NIOCore
import NIOPosix
import RayNode
import RayObjectStore
import RayPlatform
import RayTransport
import RayWire
import RayWorker
import Synchronization

/// The embedded local cluster: a node manager inside the driver process, its workers as child
/// processes. `shutdown()` stops them all; if the driver dies first, workers see their channel close
/// and exit (and Linux kills them with their parent as well).
package final class LocalCluster: CoreRuntime, @unchecked Sendable {
    package let nodeID: String
    package private(set) var config: NodeConfig
    let group: MultiThreadedEventLoopGroup
    let manager: NodeManager
    private let minter = IDMinter()
    /// Set at shutdown: late reference drops are ignored.
    private let closed = Atomic<Bool>(false)

    private let references: ReferenceBatch
    /// Short gets (a synchronous actor call) spin briefly instead of sleeping until the loop wakes them.
    private let getSpinning = AdaptiveSpin()

    /// Starts the node manager and its prestarted workers.
    package init(config: NodeConfig) {
        self.config = config
        nodeID = config.nodeID
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let manager = NodeManager(config: config, loop: group.next())
        self.manager = manager
        references = ReferenceBatch(loop: manager.loop) { adds, releases in
            manager.addRefsOnLoop(adds, holder: nil)
            manager.releaseRefsOnLoop(releases, holder: nil)
        }
        if let directory = config.objectDirectory {
            SharedObjectDirectory.removeStale()
            do {
                try directory.create()
            } catch {
                RayLog.logger.error("\(error); large objects stay inline")
                self.config.objectDirectory = nil
            }
        }
        manager.start()
        let executable = config.workerExecutable
        manager.loop.execute {
            manager.jobs[0] = JobState(jobID: "01", driverPID: getpid(), status: "RUNNING", binary: executable, startedAt: wallMicros(), endedAt: nil)
        }
    }

    package var objectDirectory: SharedObjectDirectory? { config.objectDirectory }

    /// The cluster port this embedded cluster serves (for `swiftray list|status|logs` and drivers
    /// using `address: "auto"`), when started.
    private var controlPort: ClusterHead?

    /// Serves a token-checked cluster port on loopback, recorded as this machine's head address when
    /// no other live head is recorded (a running `swiftray start --head` keeps that role). Returns
    /// the port, or nil when another head owns the address.
    @discardableResult
    package func serveControlPort(files: ClusterFiles = ClusterFiles()) async -> Int? {
        guard !files.liveHeadRecorded else { return nil }
        let token = ClusterToken.generate()
        let head = ClusterHead(manager: manager, group: group, files: files, token: token, session: "embedded-\(nodeID)", servesObjects: false)
        do {
            let port = try await head.start(host: "127.0.0.1", port: 0)
            try files.recordHead(address: "127.0.0.1:\(port)", token: token)
            controlPort = head
            return port
        } catch {
            RayLog.logger.warning("the cluster port could not start: \(error); `swiftray` commands cannot reach this cluster")
            await head.shutdown()
            return nil
        }
    }

    package func newID() -> RayID { minter.next() }

    /// Runs `operation` on the node manager's loop, in order with reference changes.
    private func onLoop(_ operation: @escaping @Sendable (NodeManager) -> Void) {
        let manager = self.manager
        references.enqueue { operation(manager) }
    }

    package func submit(_ spec: TaskSpec) { onLoop { $0.submitOnLoop(spec, holder: nil) } }

    package func get(_ ids: [ObjectID], timeout: Duration?) async throws -> [ObjectPayload]? {
        if let payloads = manager.ready.lookup(ids) { return payloads }
        guard ids.count <= AdaptiveSpin.maxObjects else { return await getOnLoop(ids, timeout: timeout) }
        let started = wallMicros()
        let payloads = if let spun = getSpinning.spin(until: { manager.ready.lookup(ids) }) { spun } else { await getOnLoop(ids, timeout: timeout) }
        getSpinning.record(wallMicros() - started)
        return payloads
    }

    /// Registers the get with the node manager and sleeps until it answers.
    private func getOnLoop(_ ids: [ObjectID], timeout: Duration?) async -> [ObjectPayload]? {
        let caller = TaskContext.current?.taskID ?? .none
        let millis = Duration.wireMillis(timeout)
        return await withCheckedContinuation { continuation in
            onLoop { $0.getLocally(ids, timeoutMillis: millis, caller: caller) { continuation.resume(returning: $0) } }
        }
    }

    /// Answered at once when the object is in the ready table, else by the node's loop when it
    /// comes: no Swift task and no thread waiting meanwhile.
    package func whenReady(_ id: ObjectID, _ body: @escaping @Sendable (ObjectPayload?) -> Void) {
        if let payloads = manager.ready.lookup([id]) { return body(payloads[0]) }
        onLoop { $0.getLocally([id], timeoutMillis: -1, caller: .none) { body($0?.first) } }
    }

    package func wait(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) async throws -> [Int] {
        if let ready = manager.ready.firstReady(ids, count: numReturns) { return ready }
        let caller = TaskContext.current?.taskID ?? .none
        let millis = Duration.wireMillis(timeout)
        return await withCheckedContinuation { continuation in
            onLoop { $0.waitOnLoop(ids, numReturns: numReturns, timeoutMillis: millis, caller: caller) { continuation.resume(returning: $0) } }
        }
    }

    package func put(_ id: ObjectID, _ payload: ObjectPayload) { onLoop { $0.putOnLoop(id, payload, holder: nil) } }

    package func cancel(_ id: TaskID, force: Bool, recursive: Bool) {
        onLoop { $0.cancelOnLoop(id, force: force, recursive: recursive) }
    }

    package func addRefs(_ ids: [ObjectID]) {
        guard !closed.load(ordering: .relaxed) else { return }
        references.add(ids)
    }

    package func releaseRefs(_ ids: [ObjectID]) {
        guard !closed.load(ordering: .relaxed) else { return }
        references.release(ids)
    }

    package func addRef(_ id: ObjectID) {
        guard !closed.load(ordering: .relaxed) else { return }
        references.add(id)
    }

    package func releaseRef(_ id: ObjectID) {
        guard !closed.load(ordering: .relaxed) else { return }
        references.release(id)
    }

    /// What the node's object table holds now.
    package func objectStoreStats() async -> ObjectStoreStats {
        await withCheckedContinuation { continuation in
            onLoop {
                continuation.resume(returning: $0.objectStoreStats())
            }
        }
    }

    package func createActor(_ spec: ActorSpec) async throws -> ErrorInfo? {
        await withCheckedContinuation { continuation in
            onLoop { $0.createActorOnLoop(spec, creator: nil) { continuation.resume(returning: $0) } }
        }
    }

    package func callActor(_ call: ActorCall) { onLoop { $0.actorCallOnLoop(call, holder: nil) } }

    package func killActor(_ id: RayID, noRestart: Bool) { onLoop { $0.killActorOnLoop(id, noRestart: noRestart) } }

    package func clusterState() async throws -> ClusterState {
        await withCheckedContinuation { continuation in
            onLoop { continuation.resume(returning: $0.stateSnapshot()) }
        }
    }

    package func nodeStates() async throws -> [NodeState] {
        await withCheckedContinuation { continuation in
            onLoop { continuation.resume(returning: $0.nodeStates()) }
        }
    }

    package func kv(_ request: KVRequest) async throws -> KVReply {
        await withCheckedContinuation { continuation in
            onLoop { $0.keyValue(request) { continuation.resume(returning: $0) } }
        }
    }

    /// A worker's kept output (the dashboard's logs page).
    package func logs(_ query: LogsQuery) async -> (text: String, next: Int, error: String?) {
        await withCheckedContinuation { continuation in
            onLoop { continuation.resume(returning: $0.logs(query)) }
        }
    }

    package func placementGroup(_ request: PlacementGroupRequest) async throws -> ErrorInfo? {
        await withCheckedContinuation { continuation in
            onLoop { $0.placementGroupRequest(request) { continuation.resume(returning: $0) } }
        }
    }

    package func lookupActor(name: String, namespace: String) async throws -> ActorSpec? {
        await withCheckedContinuation { continuation in
            onLoop { continuation.resume(returning: $0.lookupActorOnLoop(name: name, namespace: namespace, asker: nil)) }
        }
    }

    /// Drivers run no tasks, so they produce no streams.
    package func yieldItem(stream: RayID, index: Int, item: ObjectID, _ payload: ObjectPayload, backpressure: Int?) async -> Bool {
        RayLog.logger.error("a stream item was yielded outside a task or actor call; dropping it")
        return false
    }

    package func nextItems(stream: RayID, from: Int) async throws -> StreamItems {
        let caller = TaskContext.current?.taskID ?? .none
        return await withCheckedContinuation { continuation in
            onLoop { $0.nextItemsOnLoop(stream, from: from, caller: caller) { continuation.resume(returning: $0) } }
        }
    }

    package func dropStream(_ stream: RayID, received: Int) {
        guard !closed.load(ordering: .relaxed) else { return }
        onLoop { $0.dropStreamOnLoop(stream, received: received, holder: nil) }
    }

    /// Process ids of the node's live workers (for tests and tools).
    package func workerPIDs() async -> [Int32] {
        (try? await manager.loop.submit { self.manager.workers.all.filter { !$0.dead }.map(\.pid) }.get()) ?? []
    }

    /// Stops every worker, waits until each is reaped, then stops the event loop.
    package func shutdown() async {
        closed.store(true, ordering: .relaxed)
        if let controlPort {
            await controlPort.shutdown()
            controlPort.files.forgetHead()
        }
        try? await manager.shutdown().get()
        try? await group.shutdownGracefully()
        config.objectDirectory?.removeAll()
    }
}
