import CRayShims
import NIOCore
import NIOPosix
import RayObjectStore
import RayPlatform
import RayTransport
import RayWire
import Synchronization

/// The runtime inside a worker process: runs the tasks its node manager sends, and serves the
/// nested API calls of those tasks over the same channel.
package final class WorkerRuntime: CoreRuntime, @unchecked Sendable {
    package let nodeID: String
    package let objectDirectory: SharedObjectDirectory?
    /// What this process is for.
    package enum Role: Sendable {
        /// A worker: runs what its node manager sends, and exits when that connection closes.
        case worker
        /// A driver connected to a cluster's head: it runs nothing, and a lost connection fails its
        /// requests instead of ending the process.
        case driver
    }

    package let role: Role
    /// Set when a driver's connection to the head is gone.
    var lost: HeadConnectionLostError? {
        didSet { lostForCallers.withLock { $0 = lost } }
    }
    /// `lost`, readable from any thread.
    private let lostForCallers = Mutex<HeadConnectionLostError?>(nil)
    /// Set when the driver closes its connection itself.
    var disconnecting = false
    /// A driver's own event loop group, closed with the connection.
    private var ownedGroup: MultiThreadedEventLoopGroup?
    let loop: any EventLoop
    /// Runs Swift tasks on `loop` (hosted actors' calls).
    package lazy var loopExecutor = EventLoopTaskExecutor(loop: loop)
    private let minter = IDMinter()
    private let executor: any WorkerExecutor
    var channel: (any Channel)?
    // State below is touched on `loop` only.
    var pending = PendingReplies()
    /// A driver's way back to a restarted head (nil: a worker, or a driver that does not wait).
    var session: DriverSession?
    /// Set while a driver's head is away.
    var away: AwaySession?
    /// A driver's head said it stops (a clean stop, not a crash): its session ends with the connection.
    var headStopped = false
    /// Whether it counts the references it holds (see `init`), and so keeps `lineage` and the
    /// messages of its open requests: a driver connected to a head, or a worker on another node
    /// than the head's. Both may outlive their head, and then hand their lineage back and send
    /// their open requests again to a restarted one.
    private let countsHeld: Bool
    var keepsLineage: Bool { countsHeld }
    /// The lineage of a process that keeps it: the specs of the tasks it submitted whose results
    /// it may still hold, by task, pruned when they outnumber `lineagePruneAt`.
    var lineage: [TaskID: TaskSpec] = [:]
    var lineagePruneAt = WorkerRuntime.minLineagePrune
    /// A driver's placement groups that are not detached (a restarted head recorded only those
    /// that are), by id: it hands them back when it resumes its session.
    var ownedGroups: [RayID: PlacementGroupSpec] = [:]
    private var running: [TaskID: Task<Void, Never>] = [:]
    /// Of those, the streaming ones (they cannot outlive the head: their consumers are gone).
    private var runningStreams: Set<TaskID> = []
    /// Tasks sent here and not started: they run one at a time (a task blocked in `get`/`wait`
    /// lets the next one start).
    private var queued = CircularBuffer<TaskSpec>()
    /// Started tasks not blocked in `get`/`wait`.
    private var unblocked = 0
    /// Open blocking requests per running task, and the task behind each request.
    private var blockedTasks: [TaskID: Int] = [:]
    private var requestCaller: [UInt64: TaskID] = [:]
    /// The task started last, and when: if it runs long while others queue, they go back.
    private var lastStarted: (id: TaskID, at: NIODeadline)?
    private var slowCheck: RepeatedTask?
    /// How long a task may hold up the tasks queued behind it.
    static let slowTaskThreshold = TimeAmount.milliseconds(5)
    private var flushScheduled = false
    /// Flushes put off in a row while a task on the loop was about to add its result.
    private var flushDeferrals = 0
    /// Functions that ran quickly last time (see `noteDuration`), and tasks running on the loop.
    private var quickFunctions: Set<String> = []
    private var runningOnLoop = 0
    /// The channel's frame writer, written to directly (found on the first send, on the loop).
    private var writer: CoalescingFrameWriter?
    private(set) var references: ReferenceBatch!
    /// The streams this worker's tasks and calls produce.
    private let producers = StreamProducers()

    /// `countingHeld`: count the references held, to re-register them with a restarted head (a
    /// worker on another node than the head's, which may host a detached actor).
    init(nodeID: String, loop: any EventLoop, executor: any WorkerExecutor, role: Role = .worker, countingHeld: Bool = false) {
        self.nodeID = nodeID
        self.loop = loop
        self.executor = executor
        self.role = role
        objectDirectory = role == .driver ? nil : SharedObjectDirectory.fromEnvironment()
        countsHeld = countingHeld
        references = ReferenceBatch(loop: loop, countingHeld: countingHeld) { [unowned self] adds, releases in
            if !adds.isEmpty { send(.addRefs(adds)) }
            if !releases.isEmpty { send(.releaseRefs(releases)) }
        }
    }

    /// Sends a message after the reference changes made before it.
    private func enqueue(_ message: WireMessage) {
        references.enqueue { self.send(message) }
    }

    func attach(_ channel: any Channel) { self.channel = channel }

    /// The actor this worker hosts, once its constructor ran (on `loop`): a worker on another node
    /// than the head's outlives its head to re-attach it to a restarted one.
    private(set) var hostedActor: ActorSpec?
    /// A task worker's requests made before it re-attached to a restarted head, until answered
    /// (see `lostWithHead`).
    var resentAfterOutage: Set<UInt64> = []

    /// Carries on over a connection to a restarted head that took this process's work back (on
    /// `loop`): first re-registers every reference it holds (the head adopted the objects the
    /// node's store kept; refs to others, gone with the old head, fail when read) with the lineage
    /// behind them (a driver or a worker owns what its tasks and calls submitted), but for tasks
    /// among the `parked` messages (they reach the head as they were sent, after this).
    func reattach(_ channel: any Channel, parked: [WireMessage] = []) {
        loop.assertInEventLoop()
        switchChannel(to: channel)
        lost = nil
        let held = references.resume()
        pruneLineage(keeping: Set(held))
        let parkedTasks = Set(parked.compactMap { message -> TaskID? in
            if case .submit(let spec) = message { spec.taskID } else { nil }
        })
        send(.resumeSession(held: held, lineage: lineage.values.filter { !parkedTasks.contains($0.taskID) }))
    }

    /// Whether this worker's tasks can run on without a head (on `loop`): some run or wait here,
    /// none streams (its consumer went with the head), and what they wait for a restarted head
    /// can answer (their requests are kept to be sent again; a stream's next items are not).
    var tasksCanOutliveHead: Bool {
        (!running.isEmpty || !queued.isEmpty) && runningStreams.isEmpty && !queued.contains { $0.streaming != nil }
            && pending.canResendAll { if case .nextItems = $0 { false } else { true } }
    }

    /// The tasks sent here and not finished, running or queued (on `loop`).
    var unfinishedTasks: [TaskID] { Array(running.keys) + queued.map(\.taskID) }

    /// Sends go to `channel` from now on (nil: parked while a driver's head is away), through a
    /// new frame writer; a flush still queued is for the old channel (on `loop`).
    func switchChannel(to channel: (any Channel)?) {
        self.channel = channel
        writer = nil
        flushScheduled = false
    }


    package func newID() -> RayID { minter.next() }

    package func submit(_ spec: TaskSpec) {
        var spec = spec
        if spec.parentTaskID == .none { spec.parentTaskID = TaskContext.current?.taskID ?? .none }
        references.enqueue { [spec] in
            if self.keepsLineage { self.noteLineage(spec) }
            self.send(.submit(spec))
        }
    }

    package func put(_ id: ObjectID, _ payload: ObjectPayload) {
        enqueue(.put(id, payload))
    }

    package func addRefs(_ ids: [ObjectID]) { references.add(ids) }

    package func releaseRefs(_ ids: [ObjectID]) { references.release(ids) }

    package func addRef(_ id: ObjectID) { references.add(id) }

    package func releaseRef(_ id: ObjectID) { references.release(id) }

    package func tookCreatedRef(_ id: ObjectID) { references.created(id) }

    package var connectionLost: (any Error)? { lostForCallers.withLock { $0 } }

    package func cancel(_ id: TaskID, force: Bool, recursive: Bool) {
        enqueue(.cancel(id, force: force, recursive: recursive))
    }

    package func get(_ ids: [ObjectID], timeout: Duration?) async throws -> [ObjectPayload]? {
        let caller = TaskContext.current?.taskID ?? .none
        let millis = Duration.wireMillis(timeout)
        return try await request(blocking: caller) { id in
            .get(requestID: id, caller: caller, ids: ids, timeoutMillis: millis)
        } reply: { reply in
            if case .getReply(_, let results) = reply { results } else { nil }
        }
    }

    package func wait(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) async throws -> [Int] {
        let caller = TaskContext.current?.taskID ?? .none
        let millis = Duration.wireMillis(timeout)
        return try await request(blocking: caller) { id in
            .wait(requestID: id, caller: caller, ids: ids, numReturns: numReturns, timeoutMillis: millis)
        } reply: { reply in
            if case .waitReply(_, let ready) = reply { ready } else { nil }
        }
    }

    package func createActor(_ spec: ActorSpec) async throws -> ErrorInfo? {
        try await request({ id in .createActor(requestID: id, spec) }, reply: Self.requestError)
    }

    package func callActor(_ call: ActorCall) {
        enqueue(.actorCall(call))
    }

    package func killActor(_ id: RayID, noRestart: Bool) {
        enqueue(.killActor(id, noRestart: noRestart))
    }

    package func kv(_ request: KVRequest) async throws -> KVReply {
        try await self.request { id in .control(.kv(requestID: id, request)) } reply: { reply in
            if case .control(.kvReply(_, let answer)) = reply { answer } else { nil }
        }
    }

    package func clusterState() async throws -> ClusterState {
        try await request { id in .control(.stateRequest(requestID: id)) } reply: { reply in
            if case .control(.state(_, let state)) = reply { state } else { nil }
        }
    }

    package func nodeStates() async throws -> [NodeState] {
        try await request { id in .control(.nodesRequest(requestID: id)) } reply: { reply in
            if case .control(.state(_, let state)) = reply { state.nodes } else { nil }
        }
    }

    package func placementGroup(_ request: PlacementGroupRequest) async throws -> ErrorInfo? {
        let error = try await self.request({ id in .control(.placementGroup(requestID: id, request)) }, reply: Self.requestError)
        if error == nil, session != nil { loop.execute { self.noteGroup(request) } }
        return error
    }

    package func lookupActor(name: String, namespace: String) async throws -> ActorSpec? {
        try await request { id in .lookupActor(requestID: id, name: name, namespace: namespace) } reply: { reply in
            if case .actorFound(_, let spec) = reply { .some(spec) } else { nil }
        }
    }

    package func yieldItem(stream: RayID, index: Int, item: ObjectID, _ payload: ObjectPayload, backpressure: Int?) async -> Bool {
        let every = StreamProducers.ackEvery
        let ackPoint = (index + 1) % every == 0
        let message = WireMessage.yieldItem(stream: stream, index: index, item: item, payload, wantsAck: ackPoint)
        if index == 0 { producers.begin(stream) }  // before the node can answer the first item
        references.enqueueBatched { self.send(message) }
        if ackPoint { await producers.acknowledged(stream, count: (index + 1) / every - 1) }
        return await producers.mayContinue(stream, produced: index + 1, backpressure: backpressure)
    }

    package func nextItems(stream: RayID, from: Int) async throws -> StreamItems {
        let caller = TaskContext.current?.taskID ?? .none
        return try await request(blocking: caller) { id in
            .nextItems(requestID: id, caller: caller, stream: stream, from: from)
        } reply: { reply in
            if case .streamItems(_, let items) = reply { items } else { nil }
        }
    }

    package func dropStream(_ stream: RayID, received: Int) {
        enqueue(.dropStream(stream, received: received))
    }

    /// The error a `requestDone` reply carries (nil inside: the request succeeded).
    private static let requestError: @Sendable (WireMessage) -> ErrorInfo?? = { reply in
        if case .requestDone(_, let error) = reply { .some(error) } else { nil }
    }

    /// Sends a request and waits for its reply, which `reply` unpacks (nil: not the reply expected).
    /// A request from a running task (`blocking`) lets the worker's next queued task start while it
    /// waits. Cancelling the Swift task abandons the request.
    private func request<R: Sendable>(
        blocking: TaskID? = nil, _ message: @escaping @Sendable (UInt64) -> WireMessage,
        reply unpack: @escaping @Sendable (WireMessage) -> R?
    ) async throws -> R {
        let id = try await loop.submit { self.pending.newID() }.get()
        let reply = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: PendingReplies.Waiter) in
                references.enqueue {
                    if self.pending.wasAbandoned(id) { return continuation.resume(throwing: CancellationError()) }
                    if let lost = self.lost { return continuation.resume(throwing: lost) }
                    let sent = message(id)
                    self.pending.register(id, continuation, message: self.countsHeld ? sent : nil)
                    if self.countsHeld { self.timeOutLocally(sent) }
                    self.block(blocking, request: id)
                    self.send(sent)
                }
            }
        } onCancel: {
            loop.execute { if self.pending.cancel(id) { self.requestDone(id) } }
        }
        guard let value = unpack(reply) else { throw ClusterError("request \(id) got an unexpected reply") }
        return value
    }

    func handle(_ message: WireMessage) {
        if let id = message.replyID {
            if !resentAfterOutage.isEmpty, resentAfterOutage.remove(id) != nil, Self.findsObjectsLost(message) { lostWithHead() }
            requestDone(id)
            _ = pending.complete(id, with: message)
            return
        }
        switch message {
        case .execute(let spec):
            execute(spec)
        case .hostActor(let spec):
            let executor = self.executor
            Task {
                let error = await executor.hostActor(spec)
                self.loop.execute {
                    if error == nil { self.hostedActor = spec }
                    self.enqueue(.actorReady(spec.actorID, error: error))
                }
            }
        case .actorCall(let call):
            executor.actorCall(call) { result in
                if call.streaming != nil { self.producers.ended(call.callID) }
                self.references.enqueue {
                    self.send(result.message(for: call.callID))
                    withExtendedLifetime(result.keepAlive) {}
                }
            }
        case .cancel(let id, _, _):
            if let index = queued.firstIndex(where: { $0.taskID == id }) {
                let spec = queued.remove(at: index)
                let error = ErrorInfo(kind: .cancelled, message: "task \(spec.name) was cancelled", functionName: spec.name, nodeID: nodeID, pid: getpid())
                enqueue(.taskDone(id, .error(error)))
            } else if let task = running[id] {
                task.cancel()
            } else {
                executor.cancelActorCall(id)
            }
        case .streamProgress(let stream, let consumed, let stop):
            producers.progress(stream, consumed: consumed, stop: stop)
        case .shutdown:
            if role == .worker { WorkerMain.exitNow(0) }
            // A driver: its head stops on purpose; leave (so that it may) and wait for nothing.
            headStopped = true
            channel?.close(promise: nil)
        case .control(.output(_, let text, let isError)):
            var bytes = Array(text.utf8)
            _ = write(isError ? 2 : 1, &bytes, bytes.count)
        default:
            RayLog.logger.warning("worker received an unexpected message; ignoring it")
        }
    }

    private func execute(_ spec: TaskSpec) {
        queued.append(spec)
        startQueuedTasks()
        if !queued.isEmpty, slowCheck == nil {
            slowCheck = loop.scheduleRepeatedTask(initialDelay: Self.slowTaskThreshold, delay: Self.slowTaskThreshold) { _ in
                self.checkSlowTask()
            }
        }
    }

    /// Starts queued tasks while none runs unblocked.
    private func startQueuedTasks() {
        while unblocked == 0, let spec = queued.popFirst() { start(spec) }
    }

    /// A running task waits on a request: the next queued task may start.
    private func block(_ caller: TaskID?, request: UInt64) {
        guard let caller, running[caller] != nil else { return }
        requestCaller[request] = caller
        blockedTasks[caller, default: 0] += 1
        if blockedTasks[caller] == 1 {
            unblocked -= 1
            startQueuedTasks()
        }
    }

    /// The request is answered (or abandoned): its task runs again.
    private func requestDone(_ request: UInt64) {
        guard let caller = requestCaller.removeValue(forKey: request), let count = blockedTasks[caller] else { return }
        if count > 1 {
            blockedTasks[caller] = count - 1
        } else {
            blockedTasks[caller] = nil
            unblocked += 1
        }
    }

    /// Hands queued tasks back to the node when the running task is slow, so they do not wait
    /// behind it while other workers could run them. Not while the head is away: they are
    /// re-attached with the rest (a task handed back then would reach a head that never had it).
    private func checkSlowTask() {
        guard !queued.isEmpty else {
            slowCheck?.cancel()
            slowCheck = nil
            return
        }
        guard away == nil else { return }
        guard let last = lastStarted, running[last.id] != nil, blockedTasks[last.id] == nil,
              NIODeadline.now() - last.at >= Self.slowTaskThreshold else { return }
        let returned = queued.map(\.taskID)
        queued.removeAll()
        enqueue(.returnTasks(returned))
    }

    private func start(_ spec: TaskSpec) {
        unblocked += 1
        let began = NIODeadline.now()
        lastStarted = (spec.taskID, began)
        let context = TaskContext(
            taskID: spec.taskID, name: spec.name, attempt: Int(spec.attempt), resources: spec.resources, streaming: spec.streaming)
        let executor = self.executor
        let onLoop = quickFunctions.contains(spec.functionID)
        if onLoop { runningOnLoop += 1 }
        if spec.streaming != nil { runningStreams.insert(spec.taskID) }
        let body: @Sendable () async -> Void = {
            let result = await TaskContext.$current.withValue(context) { await executor.runTask(spec) }
            if spec.streaming != nil { self.producers.ended(spec.taskID) }
            self.references.enqueue {
                self.running[spec.taskID] = nil
                self.runningStreams.remove(spec.taskID)
                if self.blockedTasks.removeValue(forKey: spec.taskID) == nil { self.unblocked -= 1 }
                if onLoop { self.runningOnLoop -= 1 }
                self.noteDuration(of: spec.functionID, NIODeadline.now() - began)
                self.send(result.message(for: spec.taskID))
                withExtendedLifetime(result.keepAlive) {}
                self.startQueuedTasks()
            }
        }
        running[spec.taskID] = onLoop ? Task(executorPreference: loopExecutor, operation: body) : Task(operation: body)
    }

    /// Functions whose last run was quick run on the worker's event loop: no thread wake-up to start
    /// them or to send their result. Anything slower (it may block its thread, which would stall the
    /// loop and the slow-task check) runs on the cooperative pool, as every function's first run does.
    private func noteDuration(of function: String, _ duration: TimeAmount) {
        if duration < Self.quickTask { quickFunctions.insert(function) } else { quickFunctions.remove(function) }
    }

    static let quickTask = TimeAmount.microseconds(200)

    func send(_ message: WireMessage) {
        guard let channel else { return park(message) }
        channel.writeFrame(message, writer: &writer)
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute { self.flush(channel) }
    }

    /// Writes what was sent this tick; while a task queued on the loop is about to finish, waits for
    /// it (a few times at most) so quick tasks' results leave together.
    private func flush(_ channel: any Channel) {
        if runningOnLoop > 0, flushDeferrals < Self.maxFlushDeferrals {
            flushDeferrals += 1
            return loop.execute { self.flush(channel) }
        }
        flushDeferrals = 0
        flushScheduled = false
        channel.flush()
    }

    static let maxFlushDeferrals = 8
}

extension WorkerRuntime {
    /// Connects a driver to a cluster's head: presents the token, registers the job (uploading
    /// `executable` if the head has not cached it, so workers on every node can run it), then
    /// serves the API over the connection.
    /// - Throws: `ClusterError` (unreachable head, refused token, failed upload).
    package static func connectDriver(
        host: String, port: Int, token: String, files: ClusterFiles, executable: String, executor: any WorkerExecutor
    ) async throws -> WorkerRuntime {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let sockets = OwnSockets.current()
        defer { OwnSockets.keepFromChildren(openedSince: sockets) }  // the program's children do not hold the session open
        do {
            let hello = Hello(token: token, role: .driver, pid: getpid(), host: HeadConnection.hostName)
            let tls = try TLSSupport.client(files: files)
            let connection = try await HeadConnection.connect(host: host, port: port, hello: hello, group: group, tls: tls)
            let binary = try BinaryHash.of(file: executable)
            let name = String(executable.split(separator: "/").last ?? "driver")
            let job = JobRequest(binaryHash: binary.hash, binarySize: binary.size, name: name)
            let welcome = try await registerJob(job, executable: executable, over: connection)
            let runtime = WorkerRuntime(
                nodeID: welcome.nodeID, loop: connection.channel.eventLoop, executor: executor, role: .driver, countingHeld: true)
            runtime.attach(connection.channel)
            runtime.ownedGroup = group
            runtime.session = DriverSession(
                host: host, port: port, token: token, tls: tls, group: group, executable: executable, job: job,
                patience: DriverSession.configuredPatience)
            connection.route({ runtime.handle($0) }, onClose: { runtime.headLost() })
            return runtime
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    static func upload(_ path: String, hash: String, over connection: HeadConnection) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ClusterError("cannot read \(path): \(errnoText())") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: BinaryUpload.chunkSize)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw ClusterError("cannot read \(path): \(errnoText())") }
            let last = count < buffer.count
            connection.channel.write(WireMessage.control(.binaryChunk(hash: hash, bytes: Array(buffer.prefix(count)), last: last)), promise: nil)
            if last { break }
        }
        connection.channel.flush()
    }

    /// The head went away for good: every open and later request fails, saying what to do.
    func connectionLost(head: String, waited: Duration? = nil) {
        let error = HeadConnectionLostError(head: head, waited: waited)
        if lost == nil && !disconnecting { RayLog.logger.error("\(error)") }
        lost = error
        pending.failAll(error)
    }

    /// Closes a driver's connection (its job's non-detached actors stop) and its event loop.
    package func disconnect() async {
        try? await loop.submit {
            self.disconnecting = true
            if self.away != nil, let session = self.session {  // nothing will answer what waits
                self.away = nil
                self.connectionLost(head: session.address)
            }
        }.get()
        references.close()
        try? await channel?.close()
        try? await ownedGroup?.shutdownGracefully()
    }
}

/// The worker process's main: connect to the node manager on fd 3, register, serve until told to
/// stop or until the channel closes (the driver died), then exit.
package enum WorkerMain {
    /// Runs the worker; never returns. `install` receives the runtime before any task runs.
    package static func run(executor: any WorkerExecutor, install: (any CoreRuntime) -> Void) -> Never {
        swiftray_line_buffer_stdout()
        let parent = getenvString("SWIFTRAY_PARENT_PID").flatMap { Int32($0) }
        if let parent {
            swiftray_die_with_parent()
            if getppid() != parent { exitNow(1) }  // the driver died before we got here
        }
        let fd = getenvString("SWIFTRAY_WORKER_FD").flatMap { Int32($0) } ?? 3
        OwnSockets.keepFromChildren(fd)  // a process a task starts must not hold the worker's channel open
        let nodeID = getenvString("SWIFTRAY_NODE_ID") ?? "local"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        if let head = getenvString("SWIFTRAY_WORKER_CONNECT") {
            runConnected(to: head, nodeID: nodeID, group: group, executor: executor, install: install)
        }
        let runtime = WorkerRuntime(nodeID: nodeID, loop: group.next(), executor: executor)
        install(runtime)
        do {
            let channel = try ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addWireHandlers(WorkerInboundHandler(runtime: runtime))
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

    /// A worker on another node than the head's: connects to the head over the network with the
    /// cluster token and the id its node daemon was given.
    private static func runConnected(
        to head: String, nodeID: String, group: MultiThreadedEventLoopGroup, executor: any WorkerExecutor,
        install: (any CoreRuntime) -> Void
    ) -> Never {
        let token = getenvString("SWIFTRAY_WORKER_TOKEN") ?? ""
        let workerID = getenvString("SWIFTRAY_WORKER_ID").flatMap(Int.init) ?? 0
        do {
            let address = try ClusterAddress.resolve(head, files: ClusterFiles())
            let hello = Hello(token: token, role: .worker(id: workerID), pid: getpid(), host: HeadConnection.hostName)
            let tls = try TLSSupport.client(files: nil)  // the node passes SWIFTRAY_TLS_CA_FILE on
            let sockets = OwnSockets.current()
            let connection = try HeadConnection.connecting(host: address.host, port: address.port, hello: hello, group: group, tls: tls).wait()
            OwnSockets.keepFromChildren(openedSince: sockets)  // from the processes its tasks start
            let runtime = WorkerRuntime(nodeID: nodeID, loop: connection.channel.eventLoop, executor: executor, countingHeld: true)
            install(runtime)
            runtime.attach(connection.channel)
            let link = HeadLink(host: address.host, port: address.port, token: token, workerID: workerID, nodeID: nodeID, group: group, tls: tls)
            connection.route({ runtime.handle($0) }, onClose: { link.lost(runtime) })
            connection.send(.register(pid: getpid()))
        } catch {
            RayLog.logger.error("worker cannot connect to the head at \(head): \(error)")
            exitNow(1)
        }
        while true { pause() }
    }

    /// A remote worker's way back to its head: when the connection closes, a worker hosting an
    /// actor reconnects to the restarted head and re-attaches the actor, state and all; a
    /// worker running tasks that can do without the head finishes them and hands their results to
    /// the restarted head (`keepTasksThroughOutage`); any other worker exits (its work went with
    /// the head, and runs again from its drivers' lineage).
    private struct HeadLink: Sendable {
        let host: String, port: Int, token: String, workerID: Int, nodeID: String
        let group: MultiThreadedEventLoopGroup
        let tls: (any ChannelSecurity)?
        /// How long to keep trying with an actor (the node daemon kills its workers sooner if it
        /// gives up), and with tasks (their drivers wait as long by default, then fail).
        static let actorPatience: Duration = .seconds(600)
        static let taskPatience: Duration = .seconds(60)

        /// Called on the runtime's loop when the connection closes.
        func lost(_ runtime: WorkerRuntime) {
            let head = "\(host):\(port)"
            let (workerID, nodeID) = (self.workerID, self.nodeID)
            if let spec = runtime.hostedActor {
                runtime.connectionLost(head: head)
                let what = "actor \(spec.className) \(spec.actorID)"
                RayLog.logger.warning("lost the head; keeping \(what) to re-attach it to a restarted head")
                // A restarted head knows its detached actors from its state store; the others from here.
                let known = spec.detached ? nil : spec.storedBytes
                return reattach(runtime, what, patience: Self.actorPatience) { .reattachingWorker(id: workerID, actorID: spec.actorID, nodeID: nodeID, spec: known) } carryOn: {
                    runtime.reattach($0)
                }
            }
            guard runtime.keepTasksThroughOutage(head: head) else { exitNow(0) }
            reattach(runtime, "its tasks", patience: Self.taskPatience) { .reattachingTaskWorker(id: workerID, nodeID: nodeID, tasks: runtime.tasksToReattach) } carryOn: {
                runtime.resumeTasks(over: $0)
            }
        }

        /// Connects until the head welcomes `what` back (then carries on over the new connection,
        /// on the loop) or refuses it (`killWorker`: it restarted the actor elsewhere, or forgot
        /// it, or runs the tasks again elsewhere). `role` is asked on the loop for each attempt.
        private func reattach(
            _ runtime: WorkerRuntime, _ what: String, patience: Duration, as role: @escaping @Sendable () -> PeerRole,
            carryOn: @escaping @Sendable (any Channel) -> Void
        ) {
            Task {
                let deadline = ContinuousClock.now + patience
                var backoff = ReconnectBackoff()
                while ContinuousClock.now < deadline {
                    await backoff.wait()
                    guard let role = try? await runtime.loop.submit(role).get() else { continue }
                    let hello = Hello(token: token, role: role, pid: getpid(), host: HeadConnection.hostName)
                    let sockets = OwnSockets.current()
                    defer { OwnSockets.keepFromChildren(openedSince: sockets) }
                    guard let connection = try? await HeadConnection.connect(host: host, port: port, hello: hello, group: group, tls: tls) else { continue }
                    switch try? await connection.nextControl() {
                    case .welcome:
                        try? await runtime.loop.submit { carryOn(connection.channel) }.get()
                        connection.route({ runtime.handle($0) }, onClose: { lost(runtime) })
                        RayLog.logger.info("re-attached \(what) to the restarted head")
                        return
                    case .killWorker:
                        RayLog.logger.warning("the restarted head does not take \(what) back; exiting")
                        exitNow(0)
                    default:
                        connection.close()  // the head is not ready for it yet
                    }
                }
                RayLog.logger.error("no head took \(what) back within \(patience); exiting")
                exitNow(1)
            }
        }
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
