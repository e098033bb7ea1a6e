import Distributed
import RayCore
import RayWire
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The actor a worker process hosts: constructs it, then runs its calls in arrival order, up to
/// `maxConcurrency` at once. With 1 (the default for actors without `async` methods), each call
/// finishes before the next starts, so calls from one caller run one at a time in submission order.
/// With more (async actors), calls *start* in arrival order (a call is handed to the actor only once
/// the previous one runs on it) and interleave at their suspension points, as in Ray's async actors.
final class ActorHosting: Sendable {
    typealias Item = (call: ActorCall, completion: @Sendable (ExecutionResult) -> Void)

    static let shared = ActorHosting()
    /// On the worker's event loop, a burst of calls gives way this often so their results leave
    /// while the rest run (the caller's side then works in parallel).
    static let yieldEvery = 8

    private struct Hosted {
        let actor: any RayActor
        let calls: AsyncStream<Item>.Continuation
    }

    private let hosted = Mutex<Hosted?>(nil)

    /// Constructs the actor; nil on success, else the constructor's error.
    func host(_ spec: ActorSpec) async -> ErrorInfo? {
        guard let type = TypeNames.type(named: spec.typeID) as? any RayActor.Type else {
            return ErrorInfo(kind: .system, message: "actor type \(spec.className) (\(spec.typeID)) is not in this worker's binary",
                             functionName: spec.className, pid: getpid())
        }
        let actor: any RayActor
        do {
            actor = try await RayActorSystem.$constructingID.withValue(spec.actorID) {
                var arguments = TaskArguments(spec.args)
                return try await type._rayCreate(initializer: spec.initializer, system: .shared, arguments: &arguments)
            }
        } catch {
            return Self.errorInfo(error, functionName: "\(spec.className).\(spec.initializer)")
        }
        let (stream, continuation) = AsyncStream<Item>.makeStream()
        hosted.withLock { $0 = Hosted(actor: actor, calls: continuation) }
        let limit = max(1, spec.maxConcurrency)
        // Calls run on the worker's event loop, where they arrive and their replies leave: no
        // thread wakes up between reading a call and writing its result.
        if let worker = RuntimeRegistry.current as? WorkerRuntime {
            Task(executorPreference: worker.loopExecutor) { await Self.serve(actor, stream, limit: limit) }
        } else {
            Task { await Self.serve(actor, stream, limit: limit) }
        }
        return nil
    }

    func enqueue(_ call: ActorCall, completion: @escaping @Sendable (ExecutionResult) -> Void) {
        guard let calls = hosted.withLock({ $0?.calls }) else {
            let error = ErrorInfo(kind: .actorDied, message: "this worker hosts no actor", functionName: call.name, pid: getpid())
            return completion(ExecutionResult(.error(error)))
        }
        calls.yield((call, completion))
    }

    private static func serve(_ actor: any RayActor, _ stream: AsyncStream<Item>, limit: Int) async {
        if limit == 1 {
            var served = 0
            for await item in stream {
                item.completion(await run(item.call, on: actor, started: {}))
                served += 1
                if served % Self.yieldEvery == 0 { await Task.yield() }
            }
            return
        }
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await item in stream {
                if running >= limit {
                    await group.next()
                    running -= 1
                }
                await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
                    let signal = StartSignal(started)
                    group.addTask {
                        let payload = await run(item.call, on: actor, started: signal.fire)
                        signal.fire()
                        item.completion(payload)
                    }
                }
                running += 1
            }
        }
    }

    private static func run(_ call: ActorCall, on actor: any RayActor, started: @escaping @Sendable () -> Void) async -> ExecutionResult {
        let context = TaskContext(taskID: call.callID, name: call.name, attempt: Int(call.attempt))
        let sink = KeepAliveSink()
        let payload = await KeepAliveSink.$current.withValue(sink) { await runInContext(call, on: actor, context: context, started: started) }
        return ExecutionResult(payload, keepAlive: sink)
    }

    private static func runInContext(
        _ call: ActorCall, on actor: any RayActor, context: TaskContext, started: @escaping @Sendable () -> Void
    ) async -> ObjectPayload {
        await TaskContext.$current.withValue(context) {
            do {
                switch call.dispatch {
                case .method: return try await dispatch(call, on: actor, started: started)
                case .distributedTarget:
                    started()
                    return try await executeTarget(call, on: actor)
                }
            } catch {
                return .error(errorInfo(error, functionName: call.name))
            }
        }
    }

    private static func dispatch<A: RayActor>(_ call: ActorCall, on actor: A, started: @escaping @Sendable () -> Void) async throws -> ObjectPayload {
        try await A._rayDispatch(actor, method: call.method, arguments: TaskArguments(call.args), started: started)
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

/// Resumes the serving loop once, when a call starts on the actor (or ends without starting).
private final class StartSignal: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>

    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = Mutex(continuation) }

    @Sendable func fire() {
        continuation.withLock { $0.take() }?.resume()
    }
}
