#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A shared-memory file both ends of a same-node link map: the sender's outbox of `slots` chunk
/// slots. The sender unlinks the file once the receiver has mapped it, so nothing is left behind
/// even if both die.
final class SharedRegion: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int
    let path: String

    private init(base: UnsafeMutableRawPointer, size: Int, path: String) {
        self.base = base
        self.size = size
        self.path = path
    }

    deinit { munmap(base, size) }

    /// A new region of `size` bytes in `/dev/shm` (or the temporary folder where there is none).
    static func create(size: Int) throws(CollectiveError) -> SharedRegion {
        let folder = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
        let path = "\(folder)/swiftray-collective-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = openFile(path, O_RDWR | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw .system("create \(path): \(errnoText())") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            unlink(path)
            throw .system("size \(path): \(errnoText())")
        }
        return try map(fd, size: size, path: path)
    }

    /// The region another process created, or nil when this process cannot see it.
    static func open(_ path: String, size: Int) -> SharedRegion? {
        guard path.hasPrefix("/"), !path.contains("..") else { return nil }
        let fd = openFile(path, O_RDWR, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, Int(status.st_size) == size else { return nil }
        return try? map(fd, size: size, path: path)
    }

    private static func map(_ fd: Int32, size: Int, path: String) throws(CollectiveError) -> SharedRegion {
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw .system("map \(path): \(errnoText())")
        }
        return SharedRegion(base: base, size: size, path: path)
    }

    func unlinkFile() { unlink(path) }
}

private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }

/// What the sender of each operation announces first on a link, so members that call different
/// operations, types or lengths fail with `.mismatch` instead of exchanging garbage.
struct OperationHeader: Equatable {
    var sequence: UInt64
    var operation: UInt32
    var elementCode: UInt32
    var elements: UInt64

    func write(to socket: PeerSocket) -> Bool {
        socket.write(sequence) && socket.write(operation) && socket.write(elementCode) && socket.write(elements)
    }

    static func read(from socket: PeerSocket) -> OperationHeader? {
        guard let sequence = socket.read(UInt64.self), let operation = socket.read(UInt32.self),
              let elementCode = socket.read(UInt32.self), let elements = socket.read(UInt64.self) else { return nil }
        return OperationHeader(sequence: sequence, operation: operation, elementCode: elementCode, elements: elements)
    }
}

/// The link to the next rank, which this member only sends on: chunks go over TCP, or through
/// slots of a shared outbox when the next rank is on this node (the socket then carries only each
/// chunk's length one way and the slot's release the other).
final class OutgoingLink: @unchecked Sendable {
    let socket: PeerSocket
    let peer: Int
    private let outbox: SharedRegion?
    private let slotBytes: Int
    private var sent = 0
    private var released = 0

    static let slots = 4

    init(socket: PeerSocket, peer: Int, outbox: SharedRegion?, slotBytes: Int) {
        self.socket = socket
        self.peer = peer
        self.outbox = outbox
        self.slotBytes = slotBytes
    }

    var isShared: Bool { outbox != nil }

    /// Sends one chunk (at most `slotBytes`); false on a broken link.
    func send(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let outbox else { return socket.writeAll(bytes) }
        if sent - released == Self.slots {
            guard socket.read(UInt8.self) != nil else { return false }
            released += 1
        }
        let slot = outbox.base + (sent % Self.slots) * slotBytes
        if bytes.count > 0 { slot.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        sent += 1
        return socket.write(UInt32(bytes.count))
    }

    /// Waits until the receiver has taken every chunk sent. An operation ends with this, so no
    /// release is left unread: closing a socket with unread input makes the kernel reset the
    /// connection, and the peer would lose chunks it had not read yet.
    func drain() -> Bool {
        while released < sent {
            guard socket.read(UInt8.self) != nil else { return false }
            released += 1
        }
        return true
    }
}

/// The link from the previous rank, which this member only receives on.
final class IncomingLink: @unchecked Sendable {
    let socket: PeerSocket
    let peer: Int
    private let inbox: SharedRegion?
    private let slotBytes: Int
    private let scratch: UnsafeMutableRawBufferPointer
    private var received = 0

    init(socket: PeerSocket, peer: Int, inbox: SharedRegion?, slotBytes: Int) {
        self.socket = socket
        self.peer = peer
        self.inbox = inbox
        self.slotBytes = slotBytes
        scratch = inbox == nil ? .allocate(byteCount: slotBytes, alignment: 64) : UnsafeMutableRawBufferPointer(start: nil, count: 0)
    }

    deinit { scratch.deallocate() }

    var isShared: Bool { inbox != nil }

    /// Receives one chunk of `target.count` bytes into `target`, combined with what it holds when
    /// `combine` is given; false on a broken link or a chunk of another length.
    func receive(into target: UnsafeMutableRawBufferPointer, combine: ((UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void)?) -> Bool {
        if let inbox {
            guard let length = socket.read(UInt32.self), Int(length) == target.count else { return false }
            let slot = inbox.base + (received % OutgoingLink.slots) * slotBytes
            received += 1
            deliver(UnsafeRawPointer(slot), into: target, combine: combine)
            return socket.write(UInt8(1))
        }
        guard let combine else { return socket.readAll(target) }
        let staged = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<target.count])
        guard socket.readAll(staged) else { return false }
        if target.count > 0 { combine(target.baseAddress!, UnsafeRawPointer(staged.baseAddress!), target.count) }
        return true
    }

    private func deliver(_ source: UnsafeRawPointer, into target: UnsafeMutableRawBufferPointer, combine: ((UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void)?) {
        guard target.count > 0 else { return }
        if let combine { combine(target.baseAddress!, source, target.count) } else { target.baseAddress!.copyMemory(from: source, byteCount: target.count) }
    }
}
