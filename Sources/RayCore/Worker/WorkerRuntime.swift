import CRayShims
import NIOCore
import NIOPosix
import RayWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The runtime inside a worker process: runs the tasks its node manager sends, and serves the
/// nested API calls of those tasks over the same channel.
public final class WorkerRuntime: CoreRuntime, @unchecked Sendable {
    public let nodeID: String
    let loop: any EventLoop
    private let minter = IDMinter()
    private let executor: any WorkerExecutor
    private var channel: (any Channel)?
    // State below is touched on `loop` only.
    private var nextRequest: UInt64 = 0
    private var pendingGets: [UInt64: CheckedContinuation<[ObjectPayload]?, any Error>] = [:]
    private var pendingWaits: [UInt64: CheckedContinuation<[ObjectID], any Error>] = [:]
    private var pendingRequests: [UInt64: CheckedContinuation<ErrorInfo?, any Error>] = [:]
    private var pendingLookups: [UInt64: CheckedContinuation<ActorSpec?, any Error>] = [:]
    private var abandoned: Set<UInt64> = []
    private var running: [TaskID: Task<Void, Never>] = [:]
    private var flushScheduled = false

    init(nodeID: String, loop: any EventLoop, executor: any WorkerExecutor) {
        self.nodeID = nodeID
        self.loop = loop
        self.executor = executor
    }

    func attach(_ channel: any Channel) { self.channel = channel }

    public func newID() -> RayID { minter.next() }

    public func submit(_ spec: TaskSpec) {
        var spec = spec
        if spec.parentTaskID == .none { spec.parentTaskID = TaskContext.current?.taskID ?? .none }
        let message = WireMessage.submit(spec)
        loop.execute { self.send(message) }
    }

    public func put(_ id: ObjectID, _ payload: ObjectPayload) {
        loop.execute { self.send(.put(id, payload)) }
    }

    public func addRefs(_ ids: [ObjectID]) {
        loop.execute { self.send(.addRefs(ids)) }
    }

    public func releaseRefs(_ ids: [ObjectID]) {
        loop.execute { self.send(.releaseRefs(ids)) }
    }

    public func cancel(_ id: TaskID, force: Bool, recursive: Bool) {
        loop.execute { self.send(.cancel(id, force: force, recursive: recursive)) }
    }

    public func get(_ ids: [ObjectID], timeout: Duration?) async throws -> [ObjectPayload]? {
        let caller = TaskContext.current?.taskID ?? .none
        let millis = Duration.wireMillis(timeout)
        return try await request(
            register: { id, continuation in self.pendingGets[id] = continuation },
            remove: { id in self.pendingGets.removeValue(forKey: id) },
            message: { id in .get(requestID: id, caller: caller, ids: ids, timeoutMillis: millis) })
    }

    public func wait(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) async throws -> [ObjectID] {
        let caller = TaskContext.current?.taskID ?? .none
        let millis = Duration.wireMillis(timeout)
        return try await request(
            register: { id, continuation in self.pendingWaits[id] = continuation },
            remove: { id in self.pendingWaits.removeValue(forKey: id) },
            message: { id in .wait(requestID: id, caller: caller, ids: ids, numReturns: numReturns, timeoutMillis: millis) })
    }

    public func createActor(_ spec: ActorSpec) async throws -> ErrorInfo? {
        try await request(
            register: { id, continuation in self.pendingRequests[id] = continuation },
            remove: { id in self.pendingRequests.removeValue(forKey: id) },
            message: { id in .createActor(requestID: id, spec) })
    }

    public func callActor(_ call: ActorCall) {
        loop.execute { self.send(.actorCall(call)) }
    }

    public func killActor(_ id: RayID, noRestart: Bool) {
        loop.execute { self.send(.killActor(id, noRestart: noRestart)) }
    }

    public func lookupActor(name: String, namespace: String) async throws -> ActorSpec? {
        try await request(
            register: { id, continuation in self.pendingLookups[id] = continuation },
            remove: { id in self.pendingLookups.removeValue(forKey: id) },
            message: { id in .lookupActor(requestID: id, name: name, namespace: namespace) })
    }

    /// Sends a request and waits for its reply; cancelling the Swift task abandons the request.
    private func request<R: Sendable>(
        register: @escaping @Sendable (UInt64, CheckedContinuation<R, any Error>) -> Void,
        remove: @escaping @Sendable (UInt64) -> CheckedContinuation<R, any Error>?,
        message: @escaping @Sendable (UInt64) -> WireMessage
    ) async throws -> R {
        let id = try await loop.submit { self.nextRequest += 1; return self.nextRequest }.get()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                loop.execute {
                    if self.abandoned.remove(id) != nil { return continuation.resume(throwing: CancellationError()) }
                    register(id, continuation)
                    self.send(message(id))
                }
            }
        } onCancel: {
            loop.execute {
                if let continuation = remove(id) {
                    continuation.resume(throwing: CancellationError())
                } else {
                    self.abandoned.insert(id)
                }
            }
        }
    }

    func handle(_ message: WireMessage) {
        switch message {
        case .execute(let spec):
            execute(spec)
        case .getReply(let id, let results):
            pendingGets.removeValue(forKey: id)?.resume(returning: results)
        case .waitReply(let id, let ready):
            pendingWaits.removeValue(forKey: id)?.resume(returning: ready)
        case .requestDone(let id, let error):
            pendingRequests.removeValue(forKey: id)?.resume(returning: error)
        case .actorFound(let id, let spec):
            pendingLookups.removeValue(forKey: id)?.resume(returning: spec)
        case .hostActor(let spec):
            let executor = self.executor
            Task {
                let error = await executor.hostActor(spec)
                self.loop.execute { self.send(.actorReady(spec.actorID, error: error)) }
            }
        case .actorCall(let call):
            executor.actorCall(call) { result in
                self.loop.execute {
                    self.send(.taskDone(call.callID, result.payload))
                    withExtendedLifetime(result.keepAlive) {}
                }
            }
        case .cancel(let id, _, _):
            running[id]?.cancel()
        case .shutdown:
            WorkerMain.exitNow(0)
        default:
            RayLog.logger.warning("worker received an unexpected message; ignoring it")
        }
    }

    private func execute(_ spec: TaskSpec) {
        let context = TaskContext(taskID: spec.taskID, name: spec.name, attempt: Int(spec.attempt))
        let executor = self.executor
        running[spec.taskID] = Task {
            let result = await TaskContext.$current.withValue(context) { await executor.runTask(spec) }
            self.loop.execute {
                self.running[spec.taskID] = nil
                self.send(.taskDone(spec.taskID, result.payload))
                withExtendedLifetime(result.keepAlive) {}
            }
        }
    }

    private func send(_ message: WireMessage) {
        guard let channel else { return }
        channel.write(message, promise: nil)
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute {
            self.flushScheduled = false
            channel.flush()
        }
    }
}

/// The worker process's main: connect to the node manager on fd 3, register, serve until told to
/// stop or until the channel closes (the driver died), then exit.
public enum WorkerMain {
    /// Runs the worker; never returns. `install` receives the runtime before any task runs.
    public static func run(executor: any WorkerExecutor, install: (any CoreRuntime) -> Void) -> Never {
        swiftray_line_buffer_stdout()
        let parent = getenvString("SWIFTRAY_PARENT_PID").flatMap { Int32($0) }
        if let parent {
            swiftray_die_with_parent()
            if getppid() != parent { exitNow(1) }  // the driver died before we got here
        }
        let fd = getenvString("SWIFTRAY_WORKER_FD").flatMap { Int32($0) } ?? 3
        let nodeID = getenvString("SWIFTRAY_NODE_ID") ?? "local"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let runtime = WorkerRuntime(nodeID: nodeID, loop: group.next(), executor: executor)
        install(runtime)
        do {
            let channel = try ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WireMessageDecoder()))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(WireMessageEncoder()))
                        try channel.pipeline.syncOperations.addHandler(WorkerInboundHandler(runtime: runtime))
                    }
                }
                .withConnectedSocket(fd)
                .wait()
            runtime.attach(channel)
            channel.writeAndFlush(WireMessage.register(pid: getpid()), promise: nil)
        } catch {
            RayLog.logger.error("worker cannot connect to its node manager: \(error)")
            exitNow(1)
        }
        while true { pause() }
    }

    /// Flushes output and leaves at once, without running other threads' teardown.
    static func exitNow(_ code: Int32) -> Never {
        swiftray_flush_stdio()
        _exit(code)
    }
}

/// Hands a worker's inbound messages to its runtime; the channel closing means the node manager
/// (the driver) is gone, so the worker leaves too.
final class WorkerInboundHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireMessage
    private let runtime: WorkerRuntime

    init(runtime: WorkerRuntime) { self.runtime = runtime }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        runtime.handle(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        WorkerMain.exitNow(0)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        RayLog.logger.error("worker channel error: \(error); exiting")
        WorkerMain.exitNow(1)
    }
}
