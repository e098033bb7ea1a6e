import CCollectiveShims
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

    static let size = 24

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.size)
        withUnsafeBytes(of: sequence.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: operation.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: elementCode.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: elements.littleEndian) { bytes += $0 }
        return bytes
    }

    init(sequence: UInt64, operation: UInt32, elementCode: UInt32, elements: UInt64) {
        self.sequence = sequence
        self.operation = operation
        self.elementCode = elementCode
        self.elements = elements
    }

    init(bytes: UnsafeRawBufferPointer) {
        sequence = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        operation = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        elementCode = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        elements = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
    }
}

/// The shared outbox of a same-node link: a control page of counters, then the chunk slots.
/// The sender publishes chunks by raising `ready`, the receiver hands slots back by raising
/// `released`; each side sleeps on the other's counter (a futex) after a short spin, so a small
/// allreduce costs no system call when both members are in it together.
enum SharedOutbox {
    static let slots = 4
    static let ready = 0, receiverWaiting = 4, released = 64, senderWaiting = 68, lengths = 128, firstSlot = 4096

    static func size(slotBytes: Int) -> Int { firstSlot + slots * slotBytes }
    /// How long a wait spins before it sleeps. Waking a sleeper costs this machine's kernel
    /// ~100 us, as long as a small model's whole training step: members of a training group
    /// arrive within a step of each other, so spinning that long keeps them in step and bounds
    /// what a late peer costs.
    static let spinSeconds = 200e-6

    static func word(_ region: SharedRegion, _ offset: Int) -> UnsafeMutablePointer<UInt32> {
        (region.base + offset).assumingMemoryBound(to: UInt32.self)
    }

    /// Waits while `word` still holds `value`: spins for up to `spinSeconds` (the peer is usually
    /// about to move), then sleeps on the word, checking every 50 ms that the link is still up.
    /// False when the link closed (the peer died, or this member failed).
    static func wait(while word: UnsafeMutablePointer<UInt32>, is value: UInt32, flag: UnsafeMutablePointer<UInt32>, socket: PeerSocket) -> Bool {
        let spinUntil = PeerSocket.now() + SharedOutbox.spinSeconds
        var spins = 0
        while swiftray_shared_load(word) == value {
            spins += 1
            if spins & 63 == 0, PeerSocket.now() > spinUntil { return sleep(while: word, is: value, flag: flag, socket: socket) }
            swiftray_cpu_relax()
        }
        return true
    }

    private static func sleep(while word: UnsafeMutablePointer<UInt32>, is value: UInt32, flag: UnsafeMutablePointer<UInt32>, socket: PeerSocket) -> Bool {
        swiftray_shared_store(flag, 1)
        defer { swiftray_shared_store(flag, 0) }
        while swiftray_shared_load(word) == value {
            swiftray_shared_wait(word, value, 50)
            if swiftray_shared_load(word) == value, !socket.isOpen { return false }
        }
        return true
    }

    /// Raises `word` to `value` and wakes its waiter, if it sleeps.
    static func publish(_ word: UnsafeMutablePointer<UInt32>, _ value: UInt32, flag: UnsafeMutablePointer<UInt32>) {
        swiftray_shared_store(word, value)
        if swiftray_shared_load(flag) != 0 { swiftray_shared_wake(word) }
    }
}

/// The link to the next rank, which this member only sends on: chunks go over TCP, or through
/// the slots of a shared outbox when the next rank is on this node (the socket then only tells
/// each side that the other is still there).
final class OutgoingLink: @unchecked Sendable {
    let socket: PeerSocket
    let peer: Int
    private let outbox: SharedRegion?
    private let cipher: LinkCipher?
    private let slotBytes: Int
    private var sent: UInt32 = 0

    init(socket: PeerSocket, peer: Int, outbox: SharedRegion?, cipher: LinkCipher?, slotBytes: Int) {
        self.socket = socket
        self.peer = peer
        self.outbox = outbox
        self.cipher = cipher
        self.slotBytes = slotBytes
    }

    var isSealed: Bool { cipher != nil }

    var isShared: Bool { outbox != nil }

    /// Announces an operation.
    func send(_ header: OperationHeader) -> Bool {
        header.bytes.withUnsafeBytes { send($0) }
    }

    /// Sends one chunk (at most `slotBytes`); false on a broken link.
    func send(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let outbox else {
            guard let cipher else { return socket.writeAll(bytes) }
            guard let frame = cipher.seal(bytes) else { return false }
            return frame.withUnsafeBytes { socket.writeAll($0) }
        }
        let released = SharedOutbox.word(outbox, SharedOutbox.released), flag = SharedOutbox.word(outbox, SharedOutbox.senderWaiting)
        while sent &- swiftray_shared_load(released) == UInt32(SharedOutbox.slots) {
            guard SharedOutbox.wait(while: released, is: sent &- UInt32(SharedOutbox.slots), flag: flag, socket: socket) else { return false }
        }
        let slot = Int(sent % UInt32(SharedOutbox.slots))
        if bytes.count > 0 { (outbox.base + SharedOutbox.firstSlot + slot * slotBytes).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        SharedOutbox.word(outbox, SharedOutbox.lengths + 4 * slot).pointee = UInt32(bytes.count)
        sent &+= 1
        SharedOutbox.publish(SharedOutbox.word(outbox, SharedOutbox.ready), sent, flag: SharedOutbox.word(outbox, SharedOutbox.receiverWaiting))
        return true
    }

    /// Whether a chunk can go out without waiting for the receiver (TCP: always).
    var hasRoom: Bool {
        guard let outbox else { return true }
        return sent &- swiftray_shared_load(SharedOutbox.word(outbox, SharedOutbox.released)) < UInt32(SharedOutbox.slots)
    }

    /// Waits until the receiver has taken every chunk sent: an operation ends only when its
    /// last chunk arrived, so a member may leave right after it.
    func drain() -> Bool {
        guard let outbox else { return true }
        let released = SharedOutbox.word(outbox, SharedOutbox.released), flag = SharedOutbox.word(outbox, SharedOutbox.senderWaiting)
        while true {
            // One load for both the test and the wait: a second one could already see the last
            // release and wait for a change that never comes.
            let seen = swiftray_shared_load(released)
            if seen == sent { return true }
            guard SharedOutbox.wait(while: released, is: seen, flag: flag, socket: socket) else { return false }
        }
    }
}

/// The link from the previous rank, which this member only receives on.
final class IncomingLink: @unchecked Sendable {
    let socket: PeerSocket
    let peer: Int
    private let inbox: SharedRegion?
    private let cipher: LinkCipher?
    private let slotBytes: Int
    private let scratch: UnsafeMutableRawBufferPointer
    private var received: UInt32 = 0

    init(socket: PeerSocket, peer: Int, inbox: SharedRegion?, cipher: LinkCipher?, slotBytes: Int) {
        self.socket = socket
        self.peer = peer
        self.inbox = inbox
        self.cipher = cipher
        self.slotBytes = slotBytes
        scratch = .allocate(byteCount: inbox == nil ? slotBytes : OperationHeader.size, alignment: 64)
    }

    deinit { scratch.deallocate() }

    var isShared: Bool { inbox != nil }

    /// The next operation's header.
    func receiveHeader() -> OperationHeader? {
        let staged = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<OperationHeader.size])
        guard receive(into: staged, combine: nil) else { return nil }
        return OperationHeader(bytes: UnsafeRawBufferPointer(staged))
    }

    /// Receives one chunk of `target.count` bytes into `target`, combined with what it holds when
    /// `combine` is given; false on a broken link or a chunk of another length.
    func receive(into target: UnsafeMutableRawBufferPointer, combine: ((UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void)?) -> Bool {
        if let inbox { return receiveShared(from: inbox, into: target, combine: combine) }
        guard let combine else { return cipher?.open(from: socket, into: target) ?? socket.readAll(target) }
        let staged = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<target.count])
        guard cipher?.open(from: socket, into: staged) ?? socket.readAll(staged) else { return false }
        if target.count > 0 { combine(target.baseAddress!, UnsafeRawPointer(staged.baseAddress!), target.count) }
        return true
    }

    private func receiveShared(
        from inbox: SharedRegion, into target: UnsafeMutableRawBufferPointer, combine: ((UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void)?
    ) -> Bool {
        let ready = SharedOutbox.word(inbox, SharedOutbox.ready)
        guard SharedOutbox.wait(while: ready, is: received, flag: SharedOutbox.word(inbox, SharedOutbox.receiverWaiting), socket: socket) else { return false }
        let slot = Int(received % UInt32(SharedOutbox.slots))
        guard Int(SharedOutbox.word(inbox, SharedOutbox.lengths + 4 * slot).pointee) == target.count else { return false }
        let source = UnsafeRawPointer(inbox.base + SharedOutbox.firstSlot + slot * slotBytes)
        if target.count > 0 {
            if let combine { combine(target.baseAddress!, source, target.count) } else { target.baseAddress!.copyMemory(from: source, byteCount: target.count) }
        }
        received &+= 1
        SharedOutbox.publish(SharedOutbox.word(inbox, SharedOutbox.released), received, flag: SharedOutbox.word(inbox, SharedOutbox.senderWaiting))
        return true
    }
}
