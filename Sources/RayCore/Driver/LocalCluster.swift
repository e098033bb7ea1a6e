import NIOCore
import NIOPosix
import RayWire
import Synchronization

/// The embedded local cluster: a node manager inside the driver process, its workers as child
/// processes. `shutdown()` stops them all; if the driver dies first, workers see their channel close
/// and exit (and Linux kills them with their parent as well).
public final class LocalCluster: CoreRuntime, @unchecked Sendable {
    public let nodeID: String
    public let config: NodeConfig
    let group: MultiThreadedEventLoopGroup
    let manager: NodeManager
    private let minter = IDMinter()
    /// Set at shutdown: late reference drops are ignored.
    private let closed = Atomic<Bool>(false)

    /// Starts the node manager and its prestarted workers.
    public init(config: NodeConfig) {
        self.config = config
        nodeID = config.nodeID
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        manager = NodeManager(config: config, loop: group.next())
        manager.start()
    }

    public func newID() -> RayID { minter.next() }

    public func submit(_ spec: TaskSpec) { manager.submit(spec) }

    public func get(_ ids: [ObjectID], timeout: Duration?) async throws -> [ObjectPayload]? {
        let caller = TaskContext.current?.taskID ?? .none
        return await withCheckedContinuation { continuation in
            manager.get(ids, timeoutMillis: Duration.wireMillis(timeout), caller: caller) { continuation.resume(returning: $0) }
        }
    }

    public func wait(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) async throws -> [ObjectID] {
        let caller = TaskContext.current?.taskID ?? .none
        return await withCheckedContinuation { continuation in
            manager.wait(ids, numReturns: numReturns, timeoutMillis: Duration.wireMillis(timeout), caller: caller) {
                continuation.resume(returning: $0)
            }
        }
    }

    public func put(_ id: ObjectID, _ payload: ObjectPayload) { manager.put(id, payload) }

    public func cancel(_ id: TaskID, force: Bool, recursive: Bool) { manager.cancel(id, force: force, recursive: recursive) }

    public func addRefs(_ ids: [ObjectID]) {
        guard !closed.load(ordering: .relaxed) else { return }
        manager.addRefs(ids)
    }

    public func releaseRefs(_ ids: [ObjectID]) {
        guard !closed.load(ordering: .relaxed) else { return }
        manager.releaseRefs(ids)
    }

    /// What the node's object table holds now.
    public func objectStoreStats() async -> ObjectStoreStats {
        (try? await manager.stats().get()) ?? ObjectStoreStats(objects: 0, bytes: 0)
    }

    public func createActor(_ spec: ActorSpec) async throws -> ErrorInfo? {
        await withCheckedContinuation { continuation in
            manager.createActor(spec) { continuation.resume(returning: $0) }
        }
    }

    public func callActor(_ call: ActorCall) { manager.callActor(call) }

    public func killActor(_ id: RayID, noRestart: Bool) { manager.killActor(id, noRestart: noRestart) }

    public func lookupActor(name: String, namespace: String) async throws -> ActorSpec? {
        await withCheckedContinuation { continuation in
            manager.lookupActor(name: name, namespace: namespace) { continuation.resume(returning: $0) }
        }
    }

    /// Process ids of the node's live workers (for tests and tools).
    public func workerPIDs() async -> [Int32] {
        (try? await manager.loop.submit { self.manager.workers.values.filter { !$0.dead }.map(\.pid) }.get()) ?? []
    }

    /// Stops every worker, waits until each is reaped, then stops the event loop.
    public func shutdown() async {
        closed.store(true, ordering: .relaxed)
        try? await manager.shutdown().get()
        try? await group.shutdownGracefully()
    }
}
