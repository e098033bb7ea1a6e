import RayObjectStore
import RayPlatform
import RayWire

/// Large objects in the node's shared-memory store: written once into a sealed file under
/// /dev/shm, read by any process of the node through a mapping, so a large `put` or result is one
/// copy per node instead of travelling through the node manager's sockets.
enum SharedStore {
    /// Values at least this large go to shared memory (Ray's inline limit: 100 KiB).
    static let threshold = 100 * 1024

    /// Encodes `value` as the object `id`: inline when small (or with no store), else into the store.
    static func encodeObject<T: Encodable>(_ value: T, id: ObjectID) throws -> EncodedValue {
        if let frame = BinaryValueEncoder.scalarFrame(value), frame.count < threshold { return EncodedValue(bytes: frame) }
        guard let directory = RuntimeRegistry.current?.objectDirectory else { return try RayEncoding.encode(value) }
        if let raw = value as? RawBytesRepresentable, raw.rawByteCount >= threshold {
            let header = BinaryValueEncoder.alignedFrameHeader(payloadCount: raw.rawByteCount)
            let stored = try store(directory, id, size: header.count + raw.rawByteCount) { file in
                header.withUnsafeBytes { file.append($0) }
                raw.withRawBytes { file.append($0) }
            }
            if stored { return EncodedValue(bytes: [], shared: id, sharedSize: header.count + raw.rawByteCount) }
        }
        let encoded = try RayEncoding.encode(value)
        guard encoded.bytes.count >= threshold else { return encoded }
        let stored = try store(directory, id, size: encoded.bytes.count) { file in
            encoded.bytes.withUnsafeBytes { file.append($0) }
        }
        return stored ? EncodedValue(bytes: [], refs: encoded.refs, shared: id, sharedSize: encoded.bytes.count) : encoded
    }

    /// Writes an object of `size` bytes into the store with `fill`; false if the store cannot take
    /// it for another reason than room (the caller keeps it inline).
    /// - Throws: `ObjectStoreFullError` when the object exceeds the capacity, or when the store stays
    ///   full (over capacity with nothing to spill, or its memory exhausted) for the directory's `fullWait`.
    private static func store(
        _ directory: SharedObjectDirectory, _ id: ObjectID, size: Int, fill: (inout FileFiller) -> Void
    ) throws -> Bool {
        try checkFits(size, directory)
        let deadline = ContinuousClock.now + directory.fullWait
        while true {
            if !directory.isFull {
                switch write(directory, id, size: size, fill: fill) {
                case .written: return true
                case .failed: return false
                case .noSpace: break
                }
            }
            guard ContinuousClock.now < deadline else {
                RayLog.logger.warning("object store full: cannot store \(size) bytes within \(directory.fullWait)")
                throw ObjectStoreFullError(message: "the object store is full (capacity \(directory.capacity) bytes) and nothing can be spilled to \(directory.spillPath); waited \(directory.fullWait) for room for \(size) bytes")
            }
            usleep(10_000)  // room appears when references go: poll, as Ray's put retries
        }
    }

    /// Decodes a value, mapping its shared-memory file if it has one.
    static func decode<T: Decodable>(_ type: T.Type, from value: EncodedValue) throws -> T {
        guard let shared = value.shared else { return try RayEncoding.decode(T.self, from: value) }
        if let mapped = T.self as? any MappedBytesRepresentable.Type {
            return try decodeInPlace(mapped, shared, size: value.sharedSize) as! T
        }
        let mapping = try map(shared, size: value.sharedSize)
        defer { munmap(mapping, value.sharedSize) }
        return try BinaryValueDecoder.decode(
            T.self, fromBuffer: UnsafeRawBufferPointer(start: mapping, count: value.sharedSize),
            userInfo: RayActorSystem.decodingUserInfo)
    }

    /// A value built over the object's mapping, which it keeps (with a reference to the object, so
    /// its file is neither freed nor recycled) for as long as it reads it.
    private static func decodeInPlace(_ type: any MappedBytesRepresentable.Type, _ shared: ObjectID, size: Int) throws -> Any {
        let region = SharedRegion(address: try map(shared, size: size), size: size, object: shared)
        guard let (offset, count) = BinaryValueDecoder.payloadRange(of: region.bytes) else {
            throw RaySerializationError(typeName: String(reflecting: type), reason: "the object is not a raw-bytes frame")
        }
        return try type.init(mappedBytes: UnsafeRawBufferPointer(rebasing: region.bytes[offset..<(offset + count)]), owner: region)
    }

    /// An object larger than the whole store can never be held: spilling others would not help.
    private static func checkFits(_ size: Int, _ directory: SharedObjectDirectory) throws {
        guard size <= directory.capacity else {
            throw ObjectStoreFullError(message: "an object of \(size) bytes exceeds the object store's capacity of \(directory.capacity) bytes")
        }
    }

    /// Maps a shared object's sealed file read-only (pages populated); the caller unmaps it. The file
    /// is in memory, or in the spill folder once the store spilled it.
    static func map(_ shared: ObjectID, size: Int) throws -> UnsafeMutableRawPointer {
        guard let directory = RuntimeRegistry.current?.objectDirectory else {
            throw ObjectLostError(message: "object \(shared) is in shared memory but this process has no object store")
        }
        let path = directory.readableFile(for: shared)
        var fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0, errno == ENOENT { fd = open(directory.readableFile(for: shared), O_RDONLY | O_CLOEXEC) }  // spilled meanwhile
        guard fd >= 0 else { throw ObjectLostError(message: "object \(shared): cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        guard size > 0, let mapping = mmap(nil, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0), mapping != MAP_FAILED else {
            throw ObjectLostError(message: "object \(shared): cannot map \(path): \(errnoText())")
        }
        return mapping
    }

    private enum WriteOutcome { case written, noSpace, failed }

    /// Writes the object to `<id>.<pid>.tmp` and renames it to `<id>` (sealed). The pid lets the node
    /// manager remove what a writer that died mid-write left. Plain `pwrite`s into the tmpfs file:
    /// no mapping to set up and tear down, and a full /dev/shm is an `ENOSPC` here, never a SIGBUS.
    private static func write(
        _ directory: SharedObjectDirectory, _ id: ObjectID, size: Int, fill: (inout FileFiller) -> Void
    ) -> WriteOutcome {
        let path = directory.file(for: id)
        let temporary = directory.temporaryFile(for: id, writer: getpid())
        let reused = directory.takeRecycled(atLeast: size, as: temporary)
        let fd = open(temporary, O_CREAT | O_WRONLY | (reused ? 0 : O_TRUNC) | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return fail("cannot create \(temporary)") }
        defer { close(fd) }
        var file = FileFiller(fd: fd)
        fill(&file)
        guard file.error == 0, file.offset == size, ftruncate(fd, off_t(size)) == 0 else {
            let error = file.error
            unlink(temporary)
            if error == ENOSPC { return .noSpace }
            if error != 0 { errno = error }
            return fail("cannot write \(size) bytes to \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            return fail("cannot seal \(path)")
        }
        return .written
    }

    private static func fail(_ what: String) -> WriteOutcome {
        RayLog.logger.warning("shared-memory store: \(what): \(errnoText()); keeping the object inline")
        return .failed
    }
}

/// Appends byte ranges to a file at increasing offsets, remembering the first error.
struct FileFiller {
    let fd: Int32
    private(set) var offset = 0
    private(set) var error: Int32 = 0

    init(fd: Int32) { self.fd = fd }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard error == 0 else { return }
        if PositionedIO.write(fd, bytes, at: offset) {
            offset += bytes.count
        } else {
            error = errno
        }
    }
}

/// A shared-memory object mapped read-only for values that alias it: unmapped, and the object
/// released, when the last of them goes.
final class SharedRegion: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    /// Holds the object so its file is neither freed nor recycled under the mapping.
    private let reference: RefHandle?

    init(address: UnsafeMutableRawPointer, size: Int, object: ObjectID) {
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        reference = RefHandle(id: object, created: false)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }
}
