import RayPlatform
import RayWire
import RayWorker

/// How a worker runs a task: find the remote function by name, decode, call, encode.
enum TaskExecution {
    /// The task's results: one payload, or one per result for a function returning a tuple (an
    /// error is one payload for all).
    static func run(_ spec: TaskSpec) async -> [ObjectPayload] {
        guard let function = TypeNames.type(named: spec.functionID) as? any RemoteFunction.Type else {
            return [.error(ErrorInfo(
                kind: .system, message: "remote function \(spec.name) (\(spec.functionID)) is not in this worker's binary",
                functionName: spec.name, nodeID: RuntimeRegistry.current?.nodeID ?? "", pid: getpid()))]
        }
        return await function._run(spec)
    }
}

extension RemoteFunction {
    static func _run(_ spec: TaskSpec) async -> [ObjectPayload] {
        let nodeID = RuntimeRegistry.current?.nodeID ?? ""
        var arguments = TaskArguments(spec.args)
        let output: Output
        do {
            output = try await _execute(&arguments)
        } catch {
            return [.error(ActorHosting.errorInfo(error, functionName: spec.name))]
        }
        do {
            if let results = output as? _MultipleReturns { return try results.encode(into: spec.returnIDs) }
            return [.value(try SharedStore.encodeObject(output, id: spec.taskID))]
        } catch let error as ObjectStoreFullError {
            return [.error(error.info)]
        } catch {
            return [.error(ErrorInfo(
                kind: .serialization, errorType: String(reflecting: Output.self),
                message: "cannot encode the result of \(spec.name): \(error)", functionName: spec.name, nodeID: nodeID, pid: getpid()))]
        }
    }
}

/// What a worker process runs: tasks, and the one actor it may host.
struct WorkerServices: WorkerExecutor {
    func runTask(_ spec: TaskSpec) async -> ExecutionResult {
        do {
            try await WorkingDirectory.prepare()
        } catch {
            return ExecutionResult(.error(ActorHosting.errorInfo(error, functionName: spec.name)))
        }
        let sink = KeepAliveSink()
        let payloads = await KeepAliveSink.$current.withValue(sink) { await TaskExecution.run(spec) }
        return ExecutionResult(payloads[0], extraPayloads: Array(payloads.dropFirst()), keepAlive: sink)
    }

    func hostActor(_ spec: ActorSpec) async -> ErrorInfo? {
        do {
            try await WorkingDirectory.prepare()
        } catch {
            return ActorHosting.errorInfo(error, functionName: spec.className)
        }
        return await ActorHosting.shared.host(spec)
    }

    func actorCall(_ call: ActorCall, completion: @escaping @Sendable (ExecutionResult) -> Void) {
        ActorHosting.shared.enqueue(call, completion: completion)
    }

    func cancelActorCall(_ id: RayID) { ActorHosting.shared.cancel(id) }
}

/// The worker entry point the pre-main hook in CRayShims calls in a process started as a worker.
@_cdecl("swiftray_worker_main")
public func _swiftrayWorkerMain() {
    WorkerMain.run(executor: WorkerServices(), install: { _ = RuntimeRegistry.install($0) })
}
