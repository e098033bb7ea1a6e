import NIOCore

/// Primitive field encodings shared by all messages.
extension ByteBuffer {
    @inlinable
    mutating func writeVarInt(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeInteger(UInt8(v))
    }

    mutating func readVarInt() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = readInteger(as: UInt8.self) {
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { break }
        }
        throw WireError.malformed("truncated or overlong varint")
    }

    mutating func writeLength(_ count: Int) { writeVarInt(UInt64(count)) }

    mutating func readLength() throws -> Int {
        let value = try readVarInt()
        guard value <= UInt64(readableBytes) else {
            throw WireError.malformed("length \(value) exceeds the \(readableBytes) bytes left")
        }
        return Int(value)
    }

    /// A count of items, each at least one byte long.
    mutating func readCount() throws -> Int { try readLength() }

    mutating func writeWireString(_ string: String) {
        writeLength(string.utf8.count)
        writeString(string)
    }

    mutating func readWireString() throws -> String {
        let length = try readLength()
        guard let string = readString(length: length) else { throw WireError.malformed("truncated string") }
        return string
    }

    mutating func writeWireBytes(_ bytes: [UInt8]) {
        writeLength(bytes.count)
        writeBytes(bytes)
    }

    mutating func readWireBytes() throws -> [UInt8] {
        let length = try readLength()
        guard let bytes = readBytes(length: length) else { throw WireError.malformed("truncated bytes") }
        return bytes
    }

    mutating func writeFixed<I: FixedWidthInteger>(_ value: I) { writeInteger(value, endianness: .little) }

    mutating func readFixed<I: FixedWidthInteger>(_ type: I.Type = I.self) throws -> I {
        guard let value = readInteger(endianness: .little, as: I.self) else {
            throw WireError.malformed("truncated \(I.self)")
        }
        return value
    }

    mutating func writeDouble(_ value: Double) { writeFixed(value.bitPattern) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try readFixed(UInt64.self)) }

    mutating func writeBool(_ value: Bool) { writeInteger(UInt8(value ? 1 : 0)) }
    mutating func readBool() throws -> Bool { try readFixed(UInt8.self) != 0 }

    mutating func writeID(_ id: RayID) {
        writeFixed(id.high)
        writeFixed(id.low)
    }

    mutating func readID() throws -> RayID { RayID(high: try readFixed(), low: try readFixed()) }

    mutating func writeIDs(_ ids: [RayID]) {
        writeLength(ids.count)
        for id in ids { writeID(id) }
    }

    mutating func readIDs() throws -> [RayID] {
        let count = try readCount()
        var ids: [RayID] = []
        ids.reserveCapacity(count)
        for _ in 0..<count { ids.append(try readID()) }
        return ids
    }
}

extension ByteBuffer {
    mutating func writeErrorInfo(_ info: ErrorInfo) {
        writeInteger(info.kind.rawValue)
        writeWireString(info.errorType)
        writeWireString(info.message)
        writeWireString(info.functionName)
        writeWireString(info.nodeID)
        writeFixed(info.pid)
    }

    mutating func readErrorInfo() throws -> ErrorInfo {
        let rawKind = try readFixed(UInt8.self)
        guard let kind = ErrorInfo.Kind(rawValue: rawKind) else { throw WireError.malformed("error kind \(rawKind)") }
        return ErrorInfo(
            kind: kind, errorType: try readWireString(), message: try readWireString(),
            functionName: try readWireString(), nodeID: try readWireString(), pid: try readFixed())
    }

    mutating func writeOptionalError(_ info: ErrorInfo?) {
        writeBool(info != nil)
        if let info { writeErrorInfo(info) }
    }

    mutating func readOptionalError() throws -> ErrorInfo? {
        try readBool() ? try readErrorInfo() : nil
    }

    mutating func writeEncodedValue(_ value: EncodedValue) {
        writeWireBytes(value.bytes)
        writeIDs(value.refs)
        writeBool(value.shared != nil)
        if let shared = value.shared {
            writeID(shared)
            writeVarInt(UInt64(value.sharedSize))
        }
    }

    mutating func readEncodedValue() throws -> EncodedValue {
        let bytes = try readWireBytes()
        let refs = try readIDs()
        guard try readBool() else { return EncodedValue(bytes: bytes, refs: refs) }
        return EncodedValue(bytes: bytes, refs: refs, shared: try readID(), sharedSize: Int(truncatingIfNeeded: try readVarInt()))
    }

    mutating func writePayload(_ payload: ObjectPayload) {
        switch payload {
        case .value(let value):
            writeInteger(UInt8(0))
            writeEncodedValue(value)
        case .error(let info):
            writeInteger(UInt8(1))
            writeErrorInfo(info)
        }
    }

    mutating func readPayload() throws -> ObjectPayload {
        switch try readFixed(UInt8.self) {
        case 0: return .value(try readEncodedValue())
        case 1: return .error(try readErrorInfo())
        case let tag: throw WireError.malformed("payload tag \(tag)")
        }
    }

    mutating func writeArgs(_ args: [TaskArg]) {
        writeLength(args.count)
        for arg in args {
            switch arg {
            case .value(let value):
                writeInteger(UInt8(0))
                writeEncodedValue(value)
            case .ref(let id):
                writeInteger(UInt8(1))
                writeID(id)
            }
        }
    }

    mutating func readArgs() throws -> [TaskArg] {
        let count = try readCount()
        var args: [TaskArg] = []
        args.reserveCapacity(count)
        for _ in 0..<count {
            switch try readFixed(UInt8.self) {
            case 0: args.append(.value(try readEncodedValue()))
            case 1: args.append(.ref(try readID()))
            case let tag: throw WireError.malformed("argument tag \(tag)")
            }
        }
        return args
    }

    mutating func writeResources(_ resources: [String: Double]) {
        writeLength(resources.count)
        for (name, amount) in resources {
            writeWireString(name)
            writeDouble(amount)
        }
    }

    mutating func readResources() throws -> [String: Double] {
        let count = try readCount()
        var resources: [String: Double] = [:]
        for _ in 0..<count { resources[try readWireString()] = try readDouble() }
        return resources
    }

    mutating func writeTaskSpec(_ spec: TaskSpec) {
        writeID(spec.taskID)
        writeWireString(spec.functionID)
        writeWireString(spec.name)
        writeArgs(spec.args)
        writeResources(spec.resources)
        writeFixed(Int64(spec.maxRetries))
        writeBool(spec.retryExceptions)
        writeID(spec.parentTaskID)
        writeFixed(spec.attempt)
        writeStrategy(spec.strategy)
        writeIDs(spec.extraReturns)
        writeStrings(spec.environment)
        writeStreaming(spec.streaming)
    }

    mutating func writeStrings(_ map: [String: String]) {
        writeLength(map.count)
        for (key, value) in map.sorted(by: { $0.key < $1.key }) {
            writeWireString(key)
            writeWireString(value)
        }
    }

    mutating func readStrings() throws -> [String: String] {
        let count = try readCount()
        var map: [String: String] = [:]
        for _ in 0..<count { map[try readWireString()] = try readWireString() }
        return map
    }

    mutating func readTaskSpec() throws -> TaskSpec {
        let taskID = try readID()
        let functionID = try readWireString()
        let name = try readWireString()
        let args = try readArgs()
        let resources = try readResources()
        var spec = TaskSpec(
            taskID: taskID, functionID: functionID, name: name, args: args, resources: resources,
            maxRetries: Int(try readFixed(Int64.self)), retryExceptions: try readBool(),
            parentTaskID: try readID(), attempt: try readFixed(), strategy: try readStrategy())
        spec.extraReturns = try readIDs()
        spec.environment = try readStrings()
        spec.streaming = try readStreaming()
        return spec
    }
}

extension ByteBuffer {
    mutating func writeActorSpec(_ spec: ActorSpec) {
        writeID(spec.actorID)
        writeWireString(spec.typeID)
        writeWireString(spec.className)
        writeWireString(spec.initializer)
        writeArgs(spec.args)
        writeResources(spec.resources)
        writeFixed(Int64(spec.maxRestarts))
        writeFixed(Int64(spec.maxTaskRetries))
        writeFixed(Int64(spec.maxConcurrency))
        writeWireString(spec.name)
        writeWireString(spec.namespace)
        writeBool(spec.detached)
        writeStrategy(spec.strategy)
        writeFixed(Int64(spec.restarts))
        writeStrings(spec.environment)
    }

    mutating func readActorSpec() throws -> ActorSpec {
        var spec = ActorSpec(
            actorID: try readID(), typeID: try readWireString(), className: try readWireString(),
            initializer: try readWireString(), args: try readArgs(), resources: try readResources(),
            maxRestarts: Int(try readFixed(Int64.self)), maxTaskRetries: Int(try readFixed(Int64.self)),
            maxConcurrency: Int(try readFixed(Int64.self)), name: try readWireString(),
            namespace: try readWireString(), detached: try readBool(), strategy: try readStrategy())
        spec.restarts = Int(try readFixed(Int64.self))
        spec.environment = try readStrings()
        return spec
    }

    mutating func writeActorCall(_ call: ActorCall) {
        writeID(call.callID)
        writeID(call.actorID)
        writeInteger(call.dispatch.rawValue)
        writeWireString(call.method)
        writeWireString(call.name)
        writeArgs(call.args)
        writeFixed(call.attempt)
        writeStreaming(call.streaming)
        writeIDs(call.extraReturns)
    }

    mutating func readActorCall() throws -> ActorCall {
        let callID = try readID()
        let actorID = try readID()
        let rawDispatch = try readFixed(UInt8.self)
        guard let dispatch = ActorCall.Dispatch(rawValue: rawDispatch) else {
            throw WireError.malformed("actor call dispatch \(rawDispatch)")
        }
        var call = ActorCall(
            callID: callID, actorID: actorID, dispatch: dispatch, method: try readWireString(),
            name: try readWireString(), args: try readArgs(), attempt: try readFixed())
        call.streaming = try readStreaming()
        call.extraReturns = try readIDs()
        return call
    }
}

extension ActorSpec {
    /// The spec in the wire's encoding, to store it (a head's state store).
    public var storedBytes: [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeActorSpec(self)
        return Array(buffer.readableBytesView)
    }

    /// A spec from its `storedBytes`.
    /// - Throws: `WireError` when the bytes are not one spec.
    public init(storedBytes: [UInt8]) throws {
        var buffer = ByteBuffer(bytes: storedBytes)
        self = try buffer.readActorSpec()
        guard buffer.readableBytes == 0 else { throw WireError.malformed("\(buffer.readableBytes) bytes after a stored actor spec") }
    }
}
