import Distributed
import RayWire
import RayWorker
import Synchronization

/// The distributed actor system of a swift-ray cluster. Declare actors with `@RayActor` (which sets
/// `ActorSystem` to this type); each lives in its own worker process, and calls travel through the
/// cluster. Methods are found by name in the worker's copy of the binary: no registration.
public final class RayActorSystem: DistributedActorSystem, Sendable {
    public typealias ActorID = RayActorID
    public typealias InvocationEncoder = RayInvocationEncoder
    public typealias InvocationDecoder = RayInvocationDecoder
    public typealias ResultHandler = RayResultHandler
    public typealias SerializationRequirement = Codable

    /// The one actor system of this process.
    public static let shared = RayActorSystem()

    /// Actors hosted in this process, by id.
    private let hosted = Mutex<[RayID: any DistributedActor]>([:])

    /// The id the actor being constructed in this process takes.
    @TaskLocal static var constructingID: RayID?

    /// `userInfo` for decoding values that may contain actor handles.
    static var decodingUserInfo: [CodingUserInfoKey: Any] { [.actorSystemKey: shared] }

    private init() {}

    public func resolve<Act>(id: RayActorID, as actorType: Act.Type) throws -> Act?
    where Act: DistributedActor, Act.ID == RayActorID {
        hosted.withLock { $0[id.raw] } as? Act
    }

    public func assignID<Act>(_ actorType: Act.Type) -> RayActorID where Act: DistributedActor, Act.ID == RayActorID {
        RayActorID(uncounted: Self.constructingID ?? RuntimeRegistry.current?.newID() ?? IDMinter().next())
    }

    public func actorReady<Act>(_ actor: Act) where Act: DistributedActor, Act.ID == RayActorID {
        hosted.withLock { $0[actor.id.raw] = actor }
    }

    public func resignID(_ id: RayActorID) {
        _ = hosted.withLock { $0.removeValue(forKey: id.raw) }
    }

    public func makeInvocationEncoder() -> RayInvocationEncoder { RayInvocationEncoder() }

    public func remoteCall<Act, Err, Res>(
        on actor: Act, target: RemoteCallTarget, invocation: inout RayInvocationEncoder,
        throwing: Err.Type, returning: Res.Type
    ) async throws -> Res where Act: DistributedActor, Act.ID == RayActorID, Err: Error, Res: Codable {
        try await result(of: call(actor, target: target, invocation: invocation), as: Res.self)
    }

    public func remoteCallVoid<Act, Err>(
        on actor: Act, target: RemoteCallTarget, invocation: inout RayInvocationEncoder, throwing: Err.Type
    ) async throws where Act: DistributedActor, Act.ID == RayActorID, Err: Error {
        _ = try await result(of: call(actor, target: target, invocation: invocation), as: RayVoid.self)
    }

    private func result<Res: Decodable>(of callID: RayID, as type: Res.Type) async throws -> Res {
        let runtime = try RuntimeRegistry.require()
        // The caller holds the result's only reference, as a `.remote` call's ref would: once it
        // is read (or the wait ends) the object is freed.
        let owner = RefHandle(id: callID, created: true)
        defer { withExtendedLifetime(owner) {} }
        guard let payload = try await runtime.get([callID], timeout: nil)?.first else {
            throw RaySystemError(message: "no result for actor call \(callID)")
        }
        return try Ray.decode(Res.self, payload)
    }

    /// Submits the call and returns its result object's id.
    private func call<Act: DistributedActor>(
        _ actor: Act, target: RemoteCallTarget, invocation: RayInvocationEncoder
    ) throws -> RayID {
        let runtime = try RuntimeRegistry.require()
        if let problem = invocation.problem { throw problem }
        let callID = runtime.newID()
        runtime.callActor(ActorCall(
            callID: callID, actorID: (actor.id as! RayActorID).raw, dispatch: .distributedTarget, method: target.identifier,
            name: Self.callName(Act.self, target), args: invocation.arguments))
        return callID
    }

    /// `Type.method`, as Ray names actor calls and as the typed `remote` calls are named (the
    /// target's description is `Module.Type.method(labels:)`).
    static func callName<Act>(_ type: Act.Type, _ target: RemoteCallTarget) -> String {
        let signature = target.description
        let path = signature[..<(signature.firstIndex(of: "(") ?? signature.endIndex)]
        return "\(Act.self).\(path.split(separator: ".").last ?? path)"
    }
}

/// Records a distributed call's arguments in the binary encoding.
public struct RayInvocationEncoder: DistributedTargetInvocationEncoder {
    public typealias SerializationRequirement = Codable
    var arguments: [TaskArg] = []
    var problem: RaySerializationError?

    public mutating func recordGenericSubstitution<T>(_ type: T.Type) throws {
        throw RaySerializationError(typeName: "\(T.self)", reason: "generic distributed methods are not supported")
    }

    public mutating func recordArgument<Value: Codable>(_ argument: RemoteCallArgument<Value>) throws {
        switch TaskArgument(value: argument.value).wire {
        case .success(let wire): arguments.append(wire)
        case .failure(let error): problem = problem ?? error
        }
    }

    public mutating func recordReturnType<R: Codable>(_ type: R.Type) throws {}
    public mutating func recordErrorType<E: Error>(_ type: E.Type) throws {}
    public mutating func doneRecording() throws {}
}

/// Hands a distributed call's arguments to the target method, in order.
public struct RayInvocationDecoder: DistributedTargetInvocationDecoder {
    public typealias SerializationRequirement = Codable
    var arguments: TaskArguments

    public mutating func decodeGenericSubstitutions() throws -> [Any.Type] { [] }

    public mutating func decodeNextArgument<Argument: Codable>() throws -> Argument {
        try arguments.next(Argument.self)
    }

    public mutating func decodeErrorType() throws -> Any.Type? { nil }
    public mutating func decodeReturnType() throws -> Any.Type? { nil }
}

/// Captures a distributed call's outcome as an object payload.
public struct RayResultHandler: DistributedTargetInvocationResultHandler {
    public typealias SerializationRequirement = Codable
    let outcome: OutcomeBox

    public func onReturn<Success: Codable>(value: Success) async throws {
        outcome.set(ActorHosting.encodeResult(value))
    }

    public func onReturnVoid() async throws {
        outcome.set(ActorHosting.encodeResult(RayVoid()))
    }

    public func onThrow<Err: Error>(error: Err) async throws {
        outcome.set(.error(ActorHosting.errorInfo(error, functionName: TaskContext.current?.name ?? "")))
    }
}

/// Where a result handler leaves the outcome.
final class OutcomeBox: Sendable {
    private let value = Mutex<ObjectPayload?>(nil)
    func set(_ payload: ObjectPayload) { value.withLock { $0 = payload } }
    var payload: ObjectPayload? { value.withLock { $0 } }
}
