import RayPlatform
import RayWire
import RayWorker

/// A function that runs as a Ray task. `@Remote` generates the conformance as the peer type
/// `$name`; a worker finds that type by its mangled name in its own copy of the binary, so there is
/// no registration list.
public protocol RemoteFunction: Sendable {
    /// The function's result type.
    associatedtype Output: Codable & Sendable
    /// The function's name, shown in logs and errors.
    static var functionName: String { get }
    /// Options used when this value submits.
    var taskOptions: TaskOptions { get set }
    init(taskOptions: TaskOptions)
    /// Decodes the arguments and calls the function (generated; not for direct use).
    static func _execute(_ arguments: inout TaskArguments) async throws -> Output
}

extension RemoteFunction {
    /// The same function with these options changed, Ray's `.options(...)`.
    public static func options(
        numCPUs: Double? = nil, numGPUs: Double? = nil, memory: Double? = nil, resources: [String: Double]? = nil,
        maxRetries: Int? = nil, retryExceptions: Bool? = nil, name: String? = nil,
        schedulingStrategy: SchedulingStrategy? = nil, runtimeEnv: RuntimeEnvironment? = nil, generatorBackpressure: Int? = nil
    ) -> Self {
        Self(taskOptions: TaskOptions()).options(
            numCPUs: numCPUs, numGPUs: numGPUs, memory: memory, resources: resources,
            maxRetries: maxRetries, retryExceptions: retryExceptions, name: name, schedulingStrategy: schedulingStrategy,
            runtimeEnv: runtimeEnv, generatorBackpressure: generatorBackpressure)
    }

    /// These options changed; the others kept.
    public func options(
        numCPUs: Double? = nil, numGPUs: Double? = nil, memory: Double? = nil, resources: [String: Double]? = nil,
        maxRetries: Int? = nil, retryExceptions: Bool? = nil, name: String? = nil,
        schedulingStrategy: SchedulingStrategy? = nil, runtimeEnv: RuntimeEnvironment? = nil, generatorBackpressure: Int? = nil
    ) -> Self {
        var copy = self
        if let generatorBackpressure { copy.taskOptions.generatorBackpressure = generatorBackpressure }
        if let runtimeEnv { copy.taskOptions.runtimeEnv = runtimeEnv }
        if let schedulingStrategy { copy.taskOptions.schedulingStrategy = schedulingStrategy }
        if let numCPUs { copy.taskOptions.numCPUs = numCPUs }
        if let numGPUs { copy.taskOptions.numGPUs = numGPUs }
        if let memory { copy.taskOptions.memory = memory }
        if let resources { copy.taskOptions.resources = resources }
        if let maxRetries { copy.taskOptions.maxRetries = maxRetries }
        if let retryExceptions { copy.taskOptions.retryExceptions = retryExceptions }
        if let name { copy.taskOptions.name = name }
        return copy
    }

    /// Submits the task (generated `remote` overloads call this). Never throws: a problem (Ray not
    /// started, an argument that cannot be encoded, bad options) is logged and surfaces as the
    /// ref's error on `get`.
    @inlinable  // specialized in the caller's module; the work is in the non-generic `_submitTask`
    public func _submit(_ arguments: [TaskArgument]) -> ObjectRef<Output> {
        ObjectRef(_created: _submitTask(Self.self, name: taskOptions.name ?? Self.functionName, options: taskOptions, arguments: arguments))
    }
}

/// Submits a task of the remote function `function`; returns the id of its result (`.none` when
/// swift-ray is not running).
@usableFromInline
func _submitTask(_ function: any Any.Type, name: String, options: TaskOptions, arguments: [TaskArgument]) -> ObjectID {
    submitTask(function, name: name, options: options, arguments: arguments, returns: 1)[0]
}

extension RemoteFunction {
    /// Submits a streaming task (generated `remote` overloads of functions returning an async
    /// sequence call this); returns its generator at once.
    public func _submitStream<Item>(_ arguments: [TaskArgument], of item: Item.Type) -> ObjectRefGenerator<Item> {
        let streaming = StreamingReturns(backpressure: taskOptions.generatorBackpressure)
        let ids = submitTask(Self.self, name: taskOptions.name ?? Self.functionName, options: taskOptions, arguments: arguments,
                             returns: 1, streaming: streaming)
        return ObjectRefGenerator(_submitted: ids[0])
    }
}

/// Submits a task with `returns` results; returns their ids (all `.none` when swift-ray is not
/// running). A submission that cannot go (an argument that cannot be encoded, bad options) stores
/// the error as every result.
func submitTask(
    _ function: any Any.Type, name: String, options: TaskOptions, arguments: [TaskArgument], returns: Int,
    streaming: StreamingReturns? = nil
) -> [ObjectID] {
    guard let runtime = RuntimeRegistry.current else {
        RayLog.logger.error("\(name).remote() called while swift-ray is not running")
        return Array(repeating: .none, count: returns)
    }
    let id = runtime.newID()
    let extra = (1..<max(returns, 1)).map { _ in runtime.newID() }
    let ids = [id] + extra
    func fail(_ error: ErrorInfo) -> [ObjectID] {
        RayLog.logger.error("\(name).remote(): \(error.message)")
        for id in ids { runtime.put(id, .error(error)) }
        return ids
    }
    var wireArguments: [TaskArg] = []
    wireArguments.reserveCapacity(arguments.count)
    for argument in arguments {
        switch argument.wire {
        case .success(let wire): wireArguments.append(wire)
        case .failure(let error): return fail(error.info)
        }
    }
    if let problem = options.problem { return fail(ErrorInfo(kind: .system, message: problem, functionName: name)) }
    let environment: [String: String]
    do {
        environment = try RuntimeEnvironment.forJob.adding(options.runtimeEnv).workerVariables()
    } catch {
        return fail(ErrorInfo(kind: .system, message: (error as? RaySystemError)?.message ?? "\(error)", functionName: name))
    }
    var spec = TaskSpec(
        taskID: id, functionID: TypeNames.name(of: function), name: name, args: wireArguments,
        resources: options.demand, maxRetries: options.maxRetries,
        retryExceptions: options.retryExceptions, parentTaskID: TaskContext.current?.taskID ?? .none,
        strategy: PlacementGroup.strategy(for: options.schedulingStrategy))
    spec.extraReturns = extra
    spec.streaming = streaming
    spec.environment = environment
    withExtendedLifetime(arguments) { runtime.submit(spec) }
    return ids
}

/// One argument of a submission: an encoded value or a reference (generated code builds these).
public struct TaskArgument: Sendable {
    @usableFromInline let wire: Result<TaskArg, RaySerializationError>
    /// The refs the argument is or holds, kept alive until the submission is on its way: a ref
    /// passed straight to `.remote` may otherwise be released (freeing its object) before the
    /// task that needs it is registered.
    let keepAlive: (any Sendable)?

    /// A value, encoded now.
    public init<T: Encodable>(value: T) {
        do {
            let (encoded, refs) = try RayEncoding.encodeHoldingRefs(value)
            wire = .success(.value(encoded))
            keepAlive = refs
        } catch {
            wire = .failure(RaySerializationError(typeName: String(reflecting: T.self), reason: "cannot encode argument: \(error)"))
            keepAlive = nil
        }
    }

    /// A reference: the task runs once the object is ready and receives its value.
    public init<T>(ref: ObjectRef<T>) {
        wire = ref.id == .none ? .failure(RaySerializationError(typeName: "ObjectRef<\(T.self)>", reason: RaySystemError.notStarted.message)) : .success(.ref(ref.id))
        keepAlive = ref
    }
}

/// The arguments a worker hands to a remote function, decoded in order (generated code reads them).
public struct TaskArguments: Sendable {
    private let arguments: [TaskArg]
    private var index = 0

    init(_ arguments: [TaskArg]) { self.arguments = arguments }

    /// Decodes the next argument as a `T`; the error names the type.
    public mutating func next<T: Decodable>(_ type: T.Type) throws -> T {
        guard index < arguments.count else {
            throw RaySerializationError(typeName: String(reflecting: T.self), reason: "missing argument \(index + 1)")
        }
        defer { index += 1 }
        guard case .value(let value) = arguments[index] else {
            throw RaySerializationError(typeName: String(reflecting: T.self), reason: "argument \(index + 1) was not resolved")
        }
        do {
            return try SharedStore.decode(T.self, from: value)
        } catch {
            throw RaySerializationError(typeName: String(reflecting: T.self), reason: "cannot decode argument \(index + 1): \(error)")
        }
    }
}
