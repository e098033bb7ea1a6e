import Distributed
import RayPlatform
import RayWire
import RayWorker
import Synchronization

/// The actor a worker process hosts: constructs it, then runs its calls in arrival order, up to
/// `maxConcurrency` at once. With 1 (the default for actors without `async` methods), each call
/// finishes before the next starts, so calls from one caller run one at a time in submission order.
/// With more (async actors), calls *start* in arrival order (each runs until its first suspension
/// before the next starts) and interleave at their suspension points, as in Ray's async actors.
final class ActorHosting: Sendable {
    typealias Item = (call: ActorCall, completion: @Sendable (ExecutionResult) -> Void)

    static let shared = ActorHosting()
    /// A burst of calls gives way this often, so the results written so far leave (one socket
    /// write for the lot) while the rest run, and the caller's side works in parallel.
    static let yieldEvery = 32

    /// Where calls to the hosted actor go; nil until it is constructed.
    private let mailbox = Mutex<CallMailbox?>(nil)
    /// The actor this worker hosts (set before its constructor runs), for the runtime context.
    let hosted = Mutex<ActorSpec?>(nil)

    /// Constructs the actor; nil on success, else the constructor's error.
    func host(_ spec: ActorSpec) async -> ErrorInfo? {
        guard let type = TypeNames.type(named: spec.typeID) as? any RayActor.Type else {
            return ErrorInfo(kind: .system, message: "actor type \(spec.className) (\(spec.typeID)) is not in this worker's binary",
                             functionName: spec.className, pid: getpid())
        }
        guard let worker = RuntimeRegistry.current as? WorkerRuntime else {
            return ErrorInfo(kind: .system, message: "actors are hosted by worker processes only", functionName: spec.className, pid: getpid())
        }
        hosted.withLock { $0 = spec }
        let resources = spec.resources
        let actor: any RayActor
        do {
            actor = try await RayActorSystem.$constructingID.withValue(spec.actorID) {
                var arguments = TaskArguments(spec.args)
                return try await type._rayCreate(initializer: spec.initializer, system: .shared, arguments: &arguments)
            }
        } catch {
            return Self.errorInfo(error, functionName: "\(spec.className).\(spec.initializer)")
        }
        let mailbox = CallMailbox()
        self.mailbox.withLock { $0 = mailbox }
        Self.startServing(actor, mailbox, limit: max(1, spec.maxConcurrency), resources: resources, on: worker.loopExecutor)
        return nil
    }

    /// Serves calls isolated to the actor, on the worker's event loop, where calls arrive and
    /// results leave: a burst of calls runs without a thread wake-up or an actor hop per call.
    private static func startServing<A: RayActor>(
        _ actor: A, _ mailbox: CallMailbox, limit: Int, resources: [String: Double], on loop: EventLoopTaskExecutor
    ) {
        Task(executorPreference: loop) {
            _ = await actor.whenLocal { actor in
                await $actorResources.withValue(resources) {
                    if limit == 1 { await serveInOrder(actor, mailbox) } else { await serveConcurrently(actor, mailbox, limit: limit, on: loop) }
                }
            }
        }
    }

    /// The resources the hosted actor holds, given to each call's context.
    @TaskLocal private static var actorResources: [String: Double] = [:]

    func enqueue(_ call: ActorCall, completion: @escaping @Sendable (ExecutionResult) -> Void) {
        guard let calls = mailbox.withLock({ $0 }) else {
            let error = ErrorInfo(kind: .actorDied, message: "this worker hosts no actor", functionName: call.name, pid: getpid())
            return completion(ExecutionResult(.error(error)))
        }
        calls.put((call, completion))
    }

    /// One call at a time: each finishes before the next starts.
    private static func serveInOrder<A: RayActor>(_ actor: isolated A, _ mailbox: CallMailbox) async {
        var served = 0
        while true {
            for item in await mailbox.take() {
                item.completion(await run(item.call, on: actor))
                served += 1
                if served % yieldEvery == 0 { await Task.yield() }
            }
        }
    }

    /// Up to `limit` calls at once, interleaving at their suspension points. Each call is a task
    /// isolated to the actor that starts at once, in place, and runs until it first suspends (a
    /// call that never suspends finishes there): calls start strictly in arrival order.
    private static func serveConcurrently<A: RayActor>(
        _ actor: isolated A, _ mailbox: CallMailbox, limit: Int, on loop: EventLoopTaskExecutor
    ) async {
        let slots = CallSlots(limit)
        while true {
            for item in await mailbox.take() {
                await slots.acquire()
                if #available(macOS 26, *) {
                    Task.immediate(executorPreference: loop) {
                        item.completion(await runCancellable(item.call, on: actor))
                        slots.release()
                    }
                } else {  // older macOS: a task per call on the loop, which enters the actor in order
                    Task(executorPreference: loop) {
                        item.completion(await runCancellable(item.call, on: actor))
                        slots.release()
                    }
                }
            }
        }
    }

    /// Runs a call in its own task, which `cancel(_:)` can cancel while it runs.
    private static func runCancellable<A: RayActor>(_ call: ActorCall, on actor: isolated A) async -> ExecutionResult {
        withUnsafeCurrentTask { task in
            if let task { shared.runningCalls.withLock { $0[call.callID] = RunningCall(task: task) } }
        }
        defer { _ = shared.runningCalls.withLock { $0.removeValue(forKey: call.callID) } }
        return await run(call, on: actor)
    }

    /// Calls of a concurrent actor running now, by call: each in its own task, cancelled by `cancel`
    /// (only while it is registered here, so never after it ended).
    private let runningCalls = Mutex<[RayID: RunningCall]>([:])

    /// A running call's task. `cancel()` is safe from any thread, and it is only called while the
    /// call is registered (its task alive), hence the unchecked `Sendable`.
    private struct RunningCall: @unchecked Sendable {
        let task: UnsafeCurrentTask
    }

    /// Calls cancelled before they started: they will not run.
    private let cancelledBeforeStart = Mutex<Set<RayID>>([])
    /// Whether that set may be non-empty: calls skip its lock while no cancel ever came.
    private let anyCancelledBeforeStart = Atomic<Bool>(false)

    /// Cancels a call: one running in its own task (a concurrent actor's) is cancelled; one not
    /// started yet will not run; a running call of a one-at-a-time actor runs to its end.
    func cancel(_ id: RayID) {
        let running = runningCalls.withLock { calls in
            calls[id].map { call in
                call.task.cancel()
                return true
            } ?? false
        }
        guard !running else { return }
        cancelledBeforeStart.withLock { _ = $0.insert(id) }
        anyCancelledBeforeStart.store(true, ordering: .releasing)
    }

    private static func run<A: RayActor>(_ call: ActorCall, on actor: isolated A) async -> ExecutionResult {
        if shared.anyCancelledBeforeStart.load(ordering: .acquiring),
           shared.cancelledBeforeStart.withLock({ $0.remove(call.callID) != nil }) {
            let error = ErrorInfo(kind: .cancelled, message: "actor call \(call.name) was cancelled", functionName: call.name, pid: getpid())
            return ExecutionResult(.error(error))
        }
        var context = TaskContext(
            taskID: call.callID, name: call.name, attempt: Int(call.attempt), resources: actorResources, streaming: call.streaming)
        if !call.extraReturns.isEmpty { context.returns = CallReturns(ids: call.returnIDs) }
        let sink = KeepAliveSink()
        let payload = await KeepAliveSink.$current.withValue(sink) { await runInContext(call, on: actor, context: context) }
        guard let returns = context.returns, case .value = payload else { return ExecutionResult(payload, keepAlive: sink) }
        return ExecutionResult(payload, extraPayloads: returns.extraPayloads, keepAlive: sink)
    }

    private static func runInContext<A: RayActor>(_ call: ActorCall, on actor: isolated A, context: TaskContext) async -> ObjectPayload {
        await TaskContext.$current.withValue(context) {
            do {
                switch call.dispatch {
                case .method: return try await A._rayDispatch(actor, method: call.method, arguments: TaskArguments(call.args))
                case .distributedTarget: return try await executeTarget(call, on: actor)
                }
            } catch {
                return .error(errorInfo(error, functionName: call.name))
            }
        }
    }

    private static func executeTarget<A: RayActor>(_ call: ActorCall, on actor: A) async throws -> ObjectPayload {
        let outcome = OutcomeBox()
        var decoder = RayInvocationDecoder(arguments: TaskArguments(call.args))
        try await RayActorSystem.shared.executeDistributedTarget(
            on: actor, target: RemoteCallTarget(call.method), invocationDecoder: &decoder,
            handler: RayResultHandler(outcome: outcome))
        return outcome.payload ?? .error(ErrorInfo(kind: .system, message: "\(call.name) produced no result", functionName: call.name))
    }

    static func encodeResult<R: Encodable>(_ value: R) -> ObjectPayload {
        do {
            guard let id = TaskContext.current?.taskID else { return .value(try RayEncoding.encode(value)) }
            return .value(try SharedStore.encodeObject(value, id: id))
        } catch let error as ObjectStoreFullError {
            return .error(error.info)
        } catch {
            return .error(ErrorInfo(kind: .serialization, errorType: String(reflecting: R.self), message: "cannot encode the result: \(error)"))
        }
    }

    /// The wire form of an error thrown by user code (a Ray error passes on unchanged).
    static func errorInfo(_ error: any Error, functionName: String) -> ErrorInfo {
        if let rayError = error as? any RayError { return rayError.info }
        return ErrorInfo(
            kind: .taskError, errorType: String(describing: type(of: error)), message: String(describing: error),
            functionName: functionName, nodeID: RuntimeRegistry.current?.nodeID ?? "", pid: getpid())
    }
}
