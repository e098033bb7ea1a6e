import Foundation

/// One operation as the two ordered lists of chunks a member sends to the next rank and receives
/// from the previous one (byte ranges of its buffer). A send marked `waits` needs the receive at
/// the same position one step earlier to have landed: the k-th waiting send waits for the k-th
/// receive, which is what pipelines the ring chunk by chunk.
struct RingSchedule {
    struct Send { var bytes: Range<Int>; var waits: Bool }
    struct Receive { var bytes: Range<Int>; var combines: Bool }

    var sends: [Send] = []
    var receives: [Receive] = []

    /// `elements` split into `parts` near-equal ranges (the first ones one longer).
    static func segments(elements: Int, parts: Int) -> [Range<Int>] {
        let base = elements / parts, extra = elements % parts
        var start = 0
        return (0..<parts).map { index in
            let length = base + (index < extra ? 1 : 0)
            defer { start += length }
            return start..<(start + length)
        }
    }

    /// The ring: at step `t` rank `r` sends segment `r - t - shift` and receives segment
    /// `r - t - shift - 1` (mod size), combining during the first `combiningSteps` steps. With
    /// shift 1 the reduce-scatter steps leave rank r with its own segment r complete.
    static func ring(
        elements: Int, elementSize: Int, rank: Int, size: Int, chunkBytes: Int, steps: Int, shift: Int, combiningSteps: Int
    ) -> RingSchedule {
        let parts = segments(elements: elements, parts: size)
        let longest = parts.map(\.count).max() ?? 0
        let chunks = max(1, (longest * elementSize + chunkBytes - 1) / chunkBytes)
        let pieces = parts.map { segment in
            segments(elements: segment.count, parts: chunks).map { (segment.lowerBound + $0.lowerBound) * elementSize..<(segment.lowerBound + $0.upperBound) * elementSize }
        }
        var schedule = RingSchedule()
        for step in 0..<steps {
            let sent = mod(rank - step - shift, size), received = mod(rank - step - shift - 1, size)
            schedule.sends += pieces[sent].map { Send(bytes: $0, waits: step > 0) }
            schedule.receives += pieces[received].map { Receive(bytes: $0, combines: step < combiningSteps) }
        }
        return schedule
    }

    /// A chain from `root` around the ring (broadcast): each member but the root receives every
    /// chunk and each but the last forwards it as soon as it has it.
    static func chain(elements: Int, elementSize: Int, rank: Int, size: Int, root: Int, chunkBytes: Int) -> RingSchedule {
        let position = mod(rank - root, size)
        let chunks = max(1, (elements * elementSize + chunkBytes - 1) / chunkBytes)
        let pieces = segments(elements: elements, parts: chunks).map { $0.lowerBound * elementSize..<$0.upperBound * elementSize }
        var schedule = RingSchedule()
        if position > 0 { schedule.receives = pieces.map { Receive(bytes: $0, combines: false) } }
        if position < size - 1 { schedule.sends = pieces.map { Send(bytes: $0, waits: position > 0) } }
        return schedule
    }

    private static func mod(_ value: Int, _ size: Int) -> Int { ((value % size) + size) % size }
}

/// Runs one schedule: over TCP, sends on the group's send thread while the calling thread
/// receives (a blocked write must not stop the reads that unblock the peer); over shared memory,
/// both on the calling thread, interleaved. The first failure shuts both links down, which wakes
/// the other side and, through the closed sockets, the neighbours: a dead member fails the
/// operation everywhere.
final class RingRun: @unchecked Sendable {
    private let condition = NSCondition()
    private var landed = 0
    private var senderDone = false
    private var failure: CollectiveError?

    private let schedule: RingSchedule
    private let buffer: UnsafeMutableRawPointer
    private let header: OperationHeader
    private let links: RingLinks
    private let combine: (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void
    private let describe: (OperationHeader) -> String

    init(
        _ schedule: RingSchedule, buffer: UnsafeMutableRawPointer, header: OperationHeader, links: RingLinks,
        combine: @escaping (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void, describe: @escaping (OperationHeader) -> String
    ) {
        self.schedule = schedule
        self.buffer = buffer
        self.header = header
        self.links = links
        self.combine = combine
        self.describe = describe
    }

    /// Blocks until both sides finish (sends on `threads`' send thread); the first failure, if any.
    func execute(on threads: RingThreads) -> CollectiveError? {
        threads.send { [self] in
            sendAll()
            condition.withLock {
                senderDone = true
                condition.broadcast()
            }
        }
        receiveAll()
        return condition.withLock {
            while !senderDone { condition.wait() }
            return failure
        }
    }

    /// Runs both sides on the calling thread, a send whenever one is due and the outbox has
    /// room, else a receive: for links through shared memory, where a send never blocks on a
    /// full socket, this saves the hand-offs between two threads that dominate small operations.
    func executeInterleaved() -> CollectiveError? {
        let next = links.outgoing, previous = links.incoming
        if !schedule.sends.isEmpty, let next, !next.send(header) { return failed(.memberFailed(group: links.group, rank: next.peer, reason: "send")) }
        if !schedule.receives.isEmpty, let previous {
            guard let theirs = previous.receiveHeader() else { return failed(.memberFailed(group: links.group, rank: previous.peer, reason: "receive")) }
            guard theirs == header else {
                return failed(.mismatch(group: links.group, detail: "rank \(previous.peer) called \(describe(theirs)), this member \(describe(header))"))
            }
        }
        var sent = 0, received = 0, waited = 0
        while sent < schedule.sends.count || received < schedule.receives.count {
            let send = sent < schedule.sends.count ? schedule.sends[sent] : nil
            let due = send.map { !$0.waits || waited < received } ?? false
            if let send, let next, due, next.hasRoom || received == schedule.receives.count {
                if send.waits { waited += 1 }
                guard next.send(UnsafeRawBufferPointer(start: buffer + send.bytes.lowerBound, count: send.bytes.count)) else {
                    return failed(.memberFailed(group: links.group, rank: next.peer, reason: "send"))
                }
                sent += 1
            } else if let previous, received < schedule.receives.count {
                let receive = schedule.receives[received]
                let target = UnsafeMutableRawBufferPointer(start: buffer + receive.bytes.lowerBound, count: receive.bytes.count)
                guard previous.receive(into: target, combine: receive.combines ? combine : nil) else {
                    return failed(.memberFailed(group: links.group, rank: previous.peer, reason: "receive"))
                }
                received += 1
            } else {
                return failed(.system("the collective schedule is stuck (\(sent) sends, \(received) receives)"))
            }
        }
        if !schedule.sends.isEmpty, let next, !next.drain() { return failed(.memberFailed(group: links.group, rank: next.peer, reason: "send")) }
        return nil
    }

    private func failed(_ error: CollectiveError) -> CollectiveError {
        links.shutdown()
        return error
    }

    private func sendAll() {
        guard !schedule.sends.isEmpty, let next = links.outgoing else { return }
        guard next.send(header) else { return fail(.memberFailed(group: links.group, rank: next.peer, reason: "send")) }
        var waited = 0
        for send in schedule.sends {
            if send.waits {
                waited += 1
                let ready = condition.withLock {
                    while landed < waited && failure == nil { condition.wait() }
                    return failure == nil
                }
                guard ready else { return }
            }
            let bytes = UnsafeRawBufferPointer(start: buffer + send.bytes.lowerBound, count: send.bytes.count)
            guard next.send(bytes) else { return fail(.memberFailed(group: links.group, rank: next.peer, reason: "send")) }
        }
        guard next.drain() else { return fail(.memberFailed(group: links.group, rank: next.peer, reason: "send")) }
    }

    private func receiveAll() {
        guard !schedule.receives.isEmpty, let previous = links.incoming else { return }
        guard let theirs = previous.receiveHeader() else {
            return fail(.memberFailed(group: links.group, rank: previous.peer, reason: "receive"))
        }
        guard theirs == header else {
            return fail(.mismatch(group: links.group, detail: "rank \(previous.peer) called \(describe(theirs)), this member \(describe(header))"))
        }
        for receive in schedule.receives {
            guard condition.withLock({ failure == nil }) else { return }
            let target = UnsafeMutableRawBufferPointer(start: buffer + receive.bytes.lowerBound, count: receive.bytes.count)
            guard previous.receive(into: target, combine: receive.combines ? combine : nil) else {
                return fail(.memberFailed(group: links.group, rank: previous.peer, reason: "receive"))
            }
            condition.withLock {
                landed += 1
                condition.broadcast()
            }
        }
    }

    private func fail(_ error: CollectiveError) {
        condition.withLock {
            if failure == nil { failure = error }
            condition.broadcast()
        }
        links.shutdown()
    }
}

/// A member's two links: to the next rank and from the previous one (none in a group of one).
final class RingLinks: @unchecked Sendable {
    let group: String
    let outgoing: OutgoingLink?
    let incoming: IncomingLink?

    init(group: String, outgoing: OutgoingLink?, incoming: IncomingLink?) {
        self.group = group
        self.outgoing = outgoing
        self.incoming = incoming
    }

    /// Whether both links go through shared memory (a group of one counts too).
    var allShared: Bool { (outgoing?.isShared ?? true) && (incoming?.isShared ?? true) }

    func shutdown() {
        outgoing?.socket.shutdown()
        incoming?.socket.shutdown()
    }
}

/// The two threads a group keeps for its life: one runs each operation (and receives), the other
/// sends. Starting threads per operation would cost more than a small allreduce takes.
final class RingThreads: @unchecked Sendable {
    private let condition = NSCondition()
    private var operation: (() -> Void)?
    private var sending: (() -> Void)?
    private var closed = false

    init() {
        for role in [\RingThreads.operation, \RingThreads.sending] {
            let thread = Thread { [self] in serve(role) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body` on the operation thread and returns what it returns.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            hand(\.operation) { continuation.resume(returning: body()) }
        }
    }

    /// Runs `work` on the send thread (from inside an operation).
    func send(_ work: @escaping () -> Void) { hand(\.sending, work) }

    /// Ends both threads once they are idle.
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    private func hand(_ slot: ReferenceWritableKeyPath<RingThreads, (() -> Void)?>, _ work: @escaping () -> Void) {
        condition.withLock {
            self[keyPath: slot] = work
            condition.broadcast()
        }
    }

    private func serve(_ slot: ReferenceWritableKeyPath<RingThreads, (() -> Void)?>) {
        while let work = next(slot) { work() }
    }

    private func next(_ slot: ReferenceWritableKeyPath<RingThreads, (() -> Void)?>) -> (() -> Void)? {
        condition.withLock {
            while self[keyPath: slot] == nil && !closed { condition.wait() }
            defer { self[keyPath: slot] = nil }
            return self[keyPath: slot]
        }
    }
}
