import RayWire
import RayWorker
import Synchronization

/// One process-local reference to an object. The node counts them: creating a ref (`put`,
/// `.remote`) registers its first holder; decoding one adds a holder; the last copy of each
/// `ObjectRef` going away releases its holder. Copies of an `ObjectRef` share one handle.
final class RefHandle: Sendable {
    let id: ObjectID
    private let runtime: any CoreRuntime

    /// `created`: the node already counts this reference (it was created with the object).
    init?(id: ObjectID, created: Bool) {
        guard id != .none, let runtime = RuntimeRegistry.current else { return nil }
        self.id = id
        self.runtime = runtime
        if created { runtime.tookCreatedRef(id) } else { runtime.addRef(id) }
    }

    deinit { runtime.releaseRef(id) }
}

/// Collects the refs a value contains while it is encoded, and keeps their handles alive.
final class RefCollector: @unchecked Sendable {
    private(set) var ids: [ObjectID] = []
    private var handles: [RefHandle] = []

    func add(_ id: ObjectID, handle: RefHandle?) {
        ids.append(id)
        if let handle { handles.append(handle) }
    }
}

/// Keeps the references inside a worker's results alive until the result is sent.
final class KeepAliveSink: Sendable {
    private let collectors = Mutex<[RefCollector]>([])

    func keep(_ collector: RefCollector) { collectors.withLock { $0.append(collector) } }

    /// The sink of the task or call running in this Swift task, if any.
    @TaskLocal static var current: KeepAliveSink?
}

extension CodingUserInfoKey {
    static let rayRefCollector = CodingUserInfoKey(rawValue: "swiftray.refCollector")!
}

/// Values in and out of the binary encoding, with the refs they contain.
enum RayEncoding {
    static func encode<T: Encodable>(_ value: T) throws -> EncodedValue {
        try encodeHoldingRefs(value).0
    }

    /// `encode`, also returning what keeps the value's refs alive (nil when it holds none).
    static func encodeHoldingRefs<T: Encodable>(_ value: T) throws -> (EncodedValue, RefCollector?) {
        if let frame = BinaryValueEncoder.scalarFrame(value) { return (EncodedValue(bytes: frame), nil) }
        if T.self == RayVoid.self { return (EncodedValue(bytes: voidFrame), nil) }
        let collector = RefCollector()
        let bytes = try BinaryValueEncoder.encode(value, userInfo: [.rayRefCollector: collector])
        guard !collector.ids.isEmpty else { return (EncodedValue(bytes: bytes), nil) }
        KeepAliveSink.current?.keep(collector)
        return (EncodedValue(bytes: bytes, refs: collector.ids), collector)
    }

    /// The encoding of `RayVoid()`, a method's empty result.
    private static let voidFrame = (try? BinaryValueEncoder.encode(RayVoid())) ?? [1]

    static func decode<T: Decodable>(_ type: T.Type, from value: EncodedValue) throws -> T {
        try BinaryValueDecoder.decode(T.self, from: value.bytes, userInfo: RayActorSystem.decodingUserInfo)
    }
}
