import NIOCore

/// Every message between a node manager and its workers, in one schema.
///
/// Worker to node: `register`, `taskDone`, `submit`, `get`, `wait`, `put`, `cancel`, `createActor`,
/// `actorCall`, `actorReady`, `killActor`, `lookupActor`, `addRefs`, `releaseRefs`, `returnTasks`,
/// `yieldItem`, `nextItems`, `dropStream`.
/// Node to worker: `execute`, `getReply`, `waitReply`, `cancel`, `shutdown`, `hostActor`,
/// `actorCall`, `requestDone`, `actorFound`, `streamItems`, `streamProgress`.
public enum WireMessage: Sendable, Equatable {
    /// A new worker announces itself.
    case register(pid: Int32)
    /// A task finished with a value or an error.
    case taskDone(TaskID, ObjectPayload)
    /// A task with several results (`TaskSpec.extraReturns`) finished: one payload per result, in
    /// order (the first is the task's own).
    case taskReturns(TaskID, [ObjectPayload])
    /// A streaming task or call (`stream`: its id) yielded item `index`, stored as object `item`.
    /// `wantsAck`: the node answers with `streamProgress` once it has taken it (pacing).
    case yieldItem(stream: RayID, index: Int, item: ObjectID, ObjectPayload, wantsAck: Bool)
    /// A consumer took the first `from` items of a stream and asks for the next ones; answered by
    /// `streamItems` once there are some or the stream has ended. `caller` as for `get`.
    case nextItems(requestID: UInt64, caller: TaskID, stream: RayID, from: Int)
    /// The consumer is gone (dropped or cancelled) after wrapping the first `received` items: the
    /// others are freed and the producer stops.
    case dropStream(RayID, received: Int)
    /// A worker submits a nested task.
    case submit(TaskSpec)
    /// Fetch objects, waiting for them up to `timeoutMillis` (-1: forever). `caller` is the task
    /// that blocks, whose CPU is lent back while it waits.
    case get(requestID: UInt64, caller: TaskID, ids: [ObjectID], timeoutMillis: Int64)
    /// Wait until `numReturns` of `ids` are ready or the timeout passes.
    case wait(requestID: UInt64, caller: TaskID, ids: [ObjectID], numReturns: Int, timeoutMillis: Int64)
    /// Store an object.
    case put(ObjectID, ObjectPayload)
    /// This process took (`addRefs`) or dropped (`releaseRefs`) references to these objects.
    case addRefs([ObjectID])
    case releaseRefs([ObjectID])
    /// A worker hands back tasks queued on it that have not started, because its current task is
    /// slow: the node schedules them elsewhere.
    case returnTasks([TaskID])
    /// Cancel a task (worker to node: a request; node to worker: stop it).
    case cancel(TaskID, force: Bool, recursive: Bool)
    /// Create an actor (a driver or task to its node); answered by `requestDone`.
    case createActor(requestID: UInt64, ActorSpec)
    /// Call an actor method (caller to node, then node to the actor's worker).
    case actorCall(ActorCall)
    /// The actor's constructor finished (error: it threw, and the actor is dead).
    case actorReady(RayID, error: ErrorInfo?)
    /// Kill an actor; restart it unless `noRestart`.
    case killActor(RayID, noRestart: Bool)
    /// Find a named actor; answered by `actorFound`.
    case lookupActor(requestID: UInt64, name: String, namespace: String)
    /// Host this actor: run its constructor (node to a dedicated worker).
    case hostActor(ActorSpec)
    /// The answer to a request that returns only success or an error.
    case requestDone(requestID: UInt64, error: ErrorInfo?)
    /// The answer to `lookupActor`: the actor's spec, or nil.
    case actorFound(requestID: UInt64, ActorSpec?)
    /// Run a task; its reference arguments are already resolved to values.
    case execute(TaskSpec)
    /// The answer to `get`, in request order; nil when the timeout passed first.
    case getReply(requestID: UInt64, results: [ObjectPayload]?)
    /// The answer to `wait`: the positions of the ready objects in the request, ascending.
    case waitReply(requestID: UInt64, ready: [Int])
    /// The answer to `nextItems`.
    case streamItems(requestID: UInt64, StreamItems)
    /// To a stream's producer: its consumer has taken `consumed` items (backpressure), or is gone
    /// (`stop`). Also the acknowledgement a `yieldItem` asked for.
    case streamProgress(RayID, consumed: Int, stop: Bool)
    /// Finish and exit.
    case shutdown
    /// The cluster's control plane (handshake, jobs, node daemons, status).
    case control(ControlMessage)
    /// Object transfer between nodes: send the shared object `id` of `size` bytes (puller to the
    /// object server that holds it), answered by its bytes in order as `objectChunk`s.
    case pullObject(ObjectID, size: UInt64)
    case objectChunk(ObjectID, offset: UInt64, data: ByteBuffer)
    /// A driver that outlived its head starts over with the restarted one (driver to head, first
    /// after `jobReady`): the refs it holds, once per holding, and its lineage, the tasks it
    /// submitted whose results it still holds (those whose results the head lacks run again).
    case resumeSession(held: [ObjectID], lineage: [TaskSpec])

    /// The protocol version every frame carries.
    public static let version: UInt8 = 2

    var typeCode: UInt8 {
        switch self {
        case .register: 1
        case .taskDone: 2
        case .submit: 3
        case .get: 4
        case .wait: 5
        case .put: 6
        case .cancel: 7
        case .createActor: 8
        case .actorCall: 9
        case .actorReady: 10
        case .killActor: 11
        case .lookupActor: 12
        case .addRefs: 13
        case .releaseRefs: 14
        case .returnTasks: 15
        case .taskReturns: 16
        case .yieldItem: 17
        case .nextItems: 18
        case .dropStream: 19
        case .streamItems: 27
        case .streamProgress: 28
        case .hostActor: 24
        case .requestDone: 25
        case .actorFound: 26
        case .execute: 20
        case .getReply: 21
        case .waitReply: 22
        case .shutdown: 23
        case .control: 30
        case .pullObject: 31
        case .objectChunk: 32
        case .resumeSession: 33
        }
    }

    /// Writes the message body (without the frame header).
    public func encodeBody(into buffer: inout ByteBuffer) {
        switch self {
        case .register(let pid):
            buffer.writeFixed(pid)
        case .taskDone(let id, let payload):
            buffer.writeID(id)
            buffer.writePayload(payload)
        case .taskReturns(let id, let payloads):
            buffer.writeID(id)
            buffer.writeLength(payloads.count)
            for payload in payloads { buffer.writePayload(payload) }
        case .yieldItem(let stream, let index, let item, let payload, let wantsAck):
            buffer.writeID(stream)
            buffer.writeVarInt(UInt64(index))
            buffer.writeID(item)
            buffer.writePayload(payload)
            buffer.writeBool(wantsAck)
        case .nextItems(let requestID, let caller, let stream, let from):
            buffer.writeFixed(requestID)
            buffer.writeID(caller)
            buffer.writeID(stream)
            buffer.writeVarInt(UInt64(from))
        case .dropStream(let stream, let received):
            buffer.writeID(stream)
            buffer.writeVarInt(UInt64(received))
        case .streamItems(let requestID, let items):
            buffer.writeFixed(requestID)
            buffer.writeIDs(items.items)
            buffer.writeBool(items.finished)
        case .streamProgress(let stream, let consumed, let stop):
            buffer.writeID(stream)
            buffer.writeVarInt(UInt64(consumed))
            buffer.writeBool(stop)
        case .submit(let spec), .execute(let spec):
            buffer.writeTaskSpec(spec)
        case .resumeSession(let held, let lineage):
            buffer.writeIDs(held)
            buffer.writeLength(lineage.count)
            for spec in lineage { buffer.writeTaskSpec(spec) }
        case .get(let requestID, let caller, let ids, let timeout):
            buffer.writeFixed(requestID)
            buffer.writeID(caller)
            buffer.writeIDs(ids)
            buffer.writeFixed(timeout)
        case .wait(let requestID, let caller, let ids, let numReturns, let timeout):
            buffer.writeFixed(requestID)
            buffer.writeID(caller)
            buffer.writeIDs(ids)
            buffer.writeVarInt(UInt64(numReturns))
            buffer.writeFixed(timeout)
        case .put(let id, let payload):
            buffer.writeID(id)
            buffer.writePayload(payload)
        case .cancel(let id, let force, let recursive):
            buffer.writeID(id)
            buffer.writeBool(force)
            buffer.writeBool(recursive)
        case .createActor(let requestID, let spec):
            buffer.writeFixed(requestID)
            buffer.writeActorSpec(spec)
        case .actorCall(let call):
            buffer.writeActorCall(call)
        case .actorReady(let id, let error):
            buffer.writeID(id)
            buffer.writeOptionalError(error)
        case .killActor(let id, let noRestart):
            buffer.writeID(id)
            buffer.writeBool(noRestart)
        case .addRefs(let ids), .releaseRefs(let ids), .returnTasks(let ids):
            buffer.writeIDs(ids)
        case .lookupActor(let requestID, let name, let namespace):
            buffer.writeFixed(requestID)
            buffer.writeWireString(name)
            buffer.writeWireString(namespace)
        case .hostActor(let spec):
            buffer.writeActorSpec(spec)
        case .requestDone(let requestID, let error):
            buffer.writeFixed(requestID)
            buffer.writeOptionalError(error)
        case .actorFound(let requestID, let spec):
            buffer.writeFixed(requestID)
            buffer.writeBool(spec != nil)
            if let spec { buffer.writeActorSpec(spec) }
        case .getReply(let requestID, let results):
            buffer.writeFixed(requestID)
            buffer.writeBool(results != nil)
            if let results {
                buffer.writeLength(results.count)
                for result in results { buffer.writePayload(result) }
            }
        case .waitReply(let requestID, let ready):
            buffer.writeFixed(requestID)
            buffer.writeLength(ready.count)
            for index in ready { buffer.writeVarInt(UInt64(index)) }
        case .shutdown:
            break
        case .control(let message):
            // Encoding a Codable enum of plain values cannot fail.
            buffer.writeBytes(try! BinaryValueEncoder.encode(message))
        case .pullObject(let id, let size):
            buffer.writeID(id)
            buffer.writeFixed(size)
        case .objectChunk(let id, let offset, let data):
            buffer.writeID(id)
            buffer.writeFixed(offset)
            buffer.writeImmutableBuffer(data)
        }
    }

    /// Reads a message body of the given type.
    public static func decodeBody(type: UInt8, from buffer: inout ByteBuffer) throws -> WireMessage {
        switch type {
        case 1: return .register(pid: try buffer.readFixed())
        case 2: return .taskDone(try buffer.readID(), try buffer.readPayload())
        case 3: return .submit(try buffer.readTaskSpec())
        case 4:
            return .get(
                requestID: try buffer.readFixed(), caller: try buffer.readID(), ids: try buffer.readIDs(),
                timeoutMillis: try buffer.readFixed())
        case 5:
            return .wait(
                requestID: try buffer.readFixed(), caller: try buffer.readID(), ids: try buffer.readIDs(),
                numReturns: Int(truncatingIfNeeded: try buffer.readVarInt()), timeoutMillis: try buffer.readFixed())
        case 6: return .put(try buffer.readID(), try buffer.readPayload())
        case 7: return .cancel(try buffer.readID(), force: try buffer.readBool(), recursive: try buffer.readBool())
        case 8: return .createActor(requestID: try buffer.readFixed(), try buffer.readActorSpec())
        case 9: return .actorCall(try buffer.readActorCall())
        case 10: return .actorReady(try buffer.readID(), error: try buffer.readOptionalError())
        case 11: return .killActor(try buffer.readID(), noRestart: try buffer.readBool())
        case 12:
            return .lookupActor(requestID: try buffer.readFixed(), name: try buffer.readWireString(), namespace: try buffer.readWireString())
        case 13: return .addRefs(try buffer.readIDs())
        case 14: return .releaseRefs(try buffer.readIDs())
        case 15: return .returnTasks(try buffer.readIDs())
        case 16:
            let id = try buffer.readID()
            let count = try buffer.readCount()
            var payloads: [ObjectPayload] = []
            for _ in 0..<count { payloads.append(try buffer.readPayload()) }
            return .taskReturns(id, payloads)
        case 17:
            return .yieldItem(
                stream: try buffer.readID(), index: try buffer.readIndex(), item: try buffer.readID(), try buffer.readPayload(),
                wantsAck: try buffer.readBool())
        case 18:
            return .nextItems(
                requestID: try buffer.readFixed(), caller: try buffer.readID(), stream: try buffer.readID(), from: try buffer.readIndex())
        case 19: return .dropStream(try buffer.readID(), received: try buffer.readIndex())
        case 27:
            let requestID: UInt64 = try buffer.readFixed()
            return .streamItems(requestID: requestID, StreamItems(items: try buffer.readIDs(), finished: try buffer.readBool()))
        case 28: return .streamProgress(try buffer.readID(), consumed: try buffer.readIndex(), stop: try buffer.readBool())
        case 24: return .hostActor(try buffer.readActorSpec())
        case 25: return .requestDone(requestID: try buffer.readFixed(), error: try buffer.readOptionalError())
        case 26:
            let requestID: UInt64 = try buffer.readFixed()
            return .actorFound(requestID: requestID, try buffer.readBool() ? try buffer.readActorSpec() : nil)
        case 20: return .execute(try buffer.readTaskSpec())
        case 21:
            let requestID: UInt64 = try buffer.readFixed()
            guard try buffer.readBool() else { return .getReply(requestID: requestID, results: nil) }
            let count = try buffer.readCount()
            var results: [ObjectPayload] = []
            results.reserveCapacity(count)
            for _ in 0..<count { results.append(try buffer.readPayload()) }
            return .getReply(requestID: requestID, results: results)
        case 22:
            let requestID: UInt64 = try buffer.readFixed()
            let count = try buffer.readCount()
            var ready: [Int] = []
            ready.reserveCapacity(count)
            for _ in 0..<count { ready.append(Int(truncatingIfNeeded: try buffer.readVarInt())) }
            return .waitReply(requestID: requestID, ready: ready)
        case 23: return .shutdown
        case 30:
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            do {
                return .control(try BinaryValueDecoder.decode(ControlMessage.self, from: bytes))
            } catch {
                throw WireError.malformed("undecodable control message: \(error)")
            }
        case 31: return .pullObject(try buffer.readID(), size: try buffer.readFixed())
        case 32:
            let id = try buffer.readID()
            let offset: UInt64 = try buffer.readFixed()
            return .objectChunk(id, offset: offset, data: buffer.readSlice(length: buffer.readableBytes)!)
        case 33:
            let held = try buffer.readIDs()
            let count = try buffer.readCount()
            var lineage: [TaskSpec] = []
            for _ in 0..<count { lineage.append(try buffer.readTaskSpec()) }
            return .resumeSession(held: held, lineage: lineage)
        default: throw WireError.unknownMessage(type)
        }
    }
}
