import Distributed
import RayPlatform
import RayWire

/// What `@RayActor`-generated code calls: submit a method call, create an actor.
public enum RayActorCalls {
    /// Submits `method` on `actor` and returns the ref of its result at once. Never throws: a problem
    /// is logged and surfaces as the ref's error on `get`.
    @inlinable  // specialized in the caller's module; the work is in the non-generic `_submitCall`
    public static func submit<A: RayActor, R>(
        _ actor: A, method: String, name: String, arguments: [TaskArgument]
    ) -> ObjectRef<R> {
        ObjectRef(_created: _submitCall(actor: actor.id.raw, method: method, name: name, arguments: arguments))
    }

    /// Submits a call of a method returning a tuple; returns the ids of its `count` results, in
    /// order (generated code wraps each in its `ObjectRef`).
    public static func submitReturns<A: RayActor>(
        _ actor: A, method: String, name: String, arguments: [TaskArgument], count: Int
    ) -> [ObjectID] {
        guard let runtime = RuntimeRegistry.current else {
            RayLog.logger.error("\(name) called while swift-ray is not running")
            return Array(repeating: .none, count: count)
        }
        let extra = (1..<max(count, 1)).map { _ in runtime.newID() }
        let id = _submitCall(actor: actor.id.raw, method: method, name: name, arguments: arguments, extraReturns: extra)
        return [id] + extra
    }

    /// Encodes the results of a method returning a tuple, each as its own object (generated
    /// dispatch code calls this): returns the first, and leaves the others for the worker to send.
    public static func encodeReturns(_ results: _MultipleReturns) -> ObjectPayload {
        guard let returns = TaskContext.current?.returns else {
            return .error(ErrorInfo(kind: .system, message: "several results outside an actor call that expects them"))
        }
        do {
            let payloads = try results.encode(into: returns.ids)
            returns.extraPayloads = Array(payloads.dropFirst())
            return payloads[0]
        } catch let error as ObjectStoreFullError {
            return .error(error.info)
        } catch {
            return .error(ErrorInfo(kind: .serialization, message: "cannot encode the results: \(error)"))
        }
    }

    /// Submits a streaming method's call and returns its generator at once.
    public static func submitStream<A: RayActor, Item>(
        _ actor: A, method: String, name: String, arguments: [TaskArgument], backpressure: Int?
    ) -> ObjectRefGenerator<Item> {
        ObjectRefGenerator(_submitted: _submitCall(
            actor: actor.id.raw, method: method, name: name, arguments: arguments, streaming: StreamingReturns(backpressure: backpressure)))
    }

    /// Submits a call; returns the id of its result (`.none` when swift-ray is not running).
    @usableFromInline
    static func _submitCall(
        actor actorID: RayID, method: String, name: String, arguments: [TaskArgument], streaming: StreamingReturns? = nil,
        extraReturns: [ObjectID] = []
    ) -> ObjectID {
        guard let runtime = RuntimeRegistry.current else {
            RayLog.logger.error("\(name) called while swift-ray is not running")
            return .none
        }
        let callID = runtime.newID()
        var wire: [TaskArg] = []
        for argument in arguments {
            switch argument.wire {
            case .success(let arg): wire.append(arg)
            case .failure(let error):
                RayLog.logger.error("\(name): \(error)")
                for id in [callID] + extraReturns { runtime.put(id, .error(error.info)) }
                return callID
            }
        }
        var call = ActorCall(callID: callID, actorID: actorID, dispatch: .method, method: method, name: name, args: wire)
        call.streaming = streaming
        call.extraReturns = extraReturns
        withExtendedLifetime(arguments) { runtime.callActor(call) }
        return callID
    }

    /// Creates an actor of type `A` in a new worker process by running `initializer` there.
    /// Returns once the cluster accepted it; calls made before the constructor finishes wait for it.
    /// - Throws: `RaySystemError` (name taken, bad options, not running), `TaskUnschedulableError`.
    public static func create<A: RayActor>(
        _ type: A.Type, initializer: String, arguments: [TaskArgument], options: ActorOptions
    ) async throws -> A {
        let runtime = try RuntimeRegistry.require()
        if let problem = options.problem { throw RaySystemError(message: "\(A.self): \(problem)") }
        let args = try arguments.map { argument in try argument.wire.get() }
        let id = runtime.newID()
        var spec = ActorSpec(
            actorID: id, typeID: TypeNames.name(of: A.self), className: "\(A.self)",
            initializer: initializer, args: args, resources: options.demand, maxRestarts: options.maxRestarts,
            maxTaskRetries: options.maxTaskRetries, maxConcurrency: options.maxConcurrency ?? A._rayDefaultMaxConcurrency,
            name: options.name ?? "", namespace: options.namespace ?? defaultNamespace, detached: options.lifetime == .detached,
            strategy: options.schedulingStrategy)
        spec.environment = try RuntimeEnvironment.forJob.adding(options.runtimeEnv).workerVariables()
        if let refusal = try await runtime.createActor(spec) { throw refusal.typedError }
        return try A.resolve(id: RayActorID(counted: id), using: .shared)
    }

    /// Encodes a method's result (generated dispatch code calls this).
    public static func encode<R: Encodable>(_ value: R) -> ObjectPayload {
        ActorHosting.encodeResult(value)
    }

    /// The error for a method key the actor type does not have.
    public static func unknownMethod(_ method: String, of type: Any.Type) -> any Error {
        RaySystemError(message: "\(type) has no distributed method \(method) in this binary")
    }
}

extension Ray {
    /// Creates an actor with its `init(actorSystem:)` in a new worker process. With arguments, use
    /// the generated `Type.create(...)`.
    public func actor<A: RayActor>(_ type: A.Type, options: ActorOptions = ActorOptions()) async throws -> A {
        try await RayActorCalls.create(A.self, initializer: "init(actorSystem:)", arguments: [], options: options)
    }

    /// The live actor named `name` in `namespace` (default: `"default"`).
    /// - Throws: `RaySystemError` if there is none, or it is of another type.
    public func getActor<A: RayActor>(_ type: A.Type, name: String, namespace: String? = nil) async throws -> A {
        let runtime = try RuntimeRegistry.require()
        let space = namespace ?? defaultNamespace
        guard let spec = try await runtime.lookupActor(name: name, namespace: space) else {
            throw RaySystemError(message: "no live actor named '\(name)' in namespace '\(space)'")
        }
        guard spec.typeID == TypeNames.name(of: A.self) else {
            throw RaySystemError(message: "the actor named '\(name)' is a \(spec.className), not a \(A.self)")
        }
        return try A.resolve(id: RayActorID(counted: spec.actorID), using: .shared)
    }

    /// Kills the actor's process. With `noRestart` (the default) it stays dead; otherwise it restarts
    /// if its `maxRestarts` allow. Pending calls fail with `ActorDiedError`.
    public func kill<A: RayActor>(_ actor: A, noRestart: Bool = true) throws {
        try RuntimeRegistry.require().killActor(actor.id.raw, noRestart: noRestart)
    }
}
