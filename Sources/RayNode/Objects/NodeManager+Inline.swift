import RayWire
import RayPlatform

/// Large objects for processes that cannot map this node's shared-memory store (workers on other
/// nodes, drivers connected over the network) travel inside the message instead.
extension NodeManager {
    func inliningShared(_ message: WireMessage) -> WireMessage {
        switch message {
        case .execute(var spec):
            spec.args = spec.args.map(inlined)
            return .execute(spec)
        case .getReply(let requestID, let results):
            return .getReply(requestID: requestID, results: results?.map(inlined))
        case .actorCall(var call):
            call.args = call.args.map(inlined)
            return .actorCall(call)
        case .hostActor(var spec):
            spec.args = spec.args.map(inlined)
            return .hostActor(spec)
        default:
            return message
        }
    }

    private func inlined(_ arg: TaskArg) -> TaskArg {
        guard case .value(let value) = arg, value.shared != nil else { return arg }
        return .value(inlined(value))
    }

    private func inlined(_ payload: ObjectPayload) -> ObjectPayload {
        guard case .value(let value) = payload, value.shared != nil else { return payload }
        return .value(inlined(value))
    }

    /// The value with its shared-memory bytes read into the message (or an error value if the
    /// file cannot be read).
    private func inlined(_ value: EncodedValue) -> EncodedValue {
        guard let shared = value.shared, let directory = config.objectDirectory else { return value }
        let path = directory.readableFile(for: shared)
        guard let bytes = Self.readFile(path, size: value.sharedSize) else {
            logger.error("cannot read shared object \(shared) from \(path) to send it inline")
            return value
        }
        return EncodedValue(bytes: bytes, refs: value.refs)
    }

    /// A large value a driver sent over the network, moved into this node's store so that nodes pull
    /// it once (and cache it) instead of receiving it inside every message; unchanged if small or if
    /// the store cannot take it.
    func storedHere(_ id: ObjectID, _ payload: ObjectPayload) -> ObjectPayload {
        guard case .value(let value) = payload, value.shared == nil, value.bytes.count >= Self.inlineLimit,
              let directory = config.objectDirectory, objects.sharedBytes + value.bytes.count <= directory.capacity else { return payload }
        let temporary = directory.temporaryFile(for: id, writer: getpid())
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return payload }
        let written = value.bytes.withUnsafeBytes { PositionedIO.write(fd, $0, at: 0) }
        close(fd)
        guard written, rename(temporary, directory.file(for: id)) == 0 else {
            unlink(temporary)
            logger.warning("cannot move a driver's object \(id) into the store; keeping it inline")
            return payload
        }
        return .value(EncodedValue(bytes: [], refs: value.refs, shared: id, sharedSize: value.bytes.count))
    }

    /// Values at least this large go to the store (Ray's inline limit: 100 KiB).
    static let inlineLimit = 100 * 1024

    static func readFile(_ path: String, size: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: size)
        let read = bytes.withUnsafeMutableBytes { PositionedIO.read(fd, into: $0, at: 0) }
        return read == size ? bytes : nil
    }
}
