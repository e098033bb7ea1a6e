import RayWire

/// Requests this process sent to its node manager (or head) and whose replies it awaits, by request
/// id: one table for every kind of reply (gets, waits, actor creation and lookup, key-value,
/// state, placement groups). Confined to the worker's event loop.
struct PendingReplies {
    typealias Waiter = CheckedContinuation<WireMessage, any Error>

    private var lastID: UInt64 = 0
    private var waiters: [UInt64: Waiter] = [:]
    /// Requests cancelled before they were registered: they are never sent.
    private var abandoned: Set<UInt64> = []
    /// What each waiting request sent, and when, when kept (a driver sends them again to a
    /// restarted head).
    private var sent: [UInt64: (message: WireMessage, at: ContinuousClock.Instant)] = [:]

    mutating func newID() -> UInt64 {
        lastID += 1
        return lastID
    }

    /// Whether the request was cancelled before it could be registered (forgets it).
    mutating func wasAbandoned(_ id: UInt64) -> Bool { abandoned.remove(id) != nil }

    /// `message`: what the request sent, kept until it is answered (nil: not kept).
    mutating func register(_ id: UInt64, _ waiter: Waiter, message: WireMessage? = nil) {
        waiters[id] = waiter
        if let message { sent[id] = (message, .now) }
    }

    /// Whether no request waits for an answer.
    var isEmpty: Bool { waiters.isEmpty }

    /// Whether the request still waits for its answer.
    func isWaiting(_ id: UInt64) -> Bool { waiters[id] != nil }

    /// Whether every waiting request's message is kept and `resendable`.
    func canResendAll(_ resendable: (WireMessage) -> Bool) -> Bool {
        sent.count == waiters.count && sent.values.allSatisfy { resendable($0.message) }
    }

    /// The requests whose messages are kept and still wait for an answer.
    var keptIDs: Set<UInt64> { Set(sent.keys) }

    /// The kept messages of those of `ids` still waiting, in the order they were made, to send
    /// again (with what is left of their timeouts).
    func messages(of ids: Set<UInt64>) -> [WireMessage] {
        let now = ContinuousClock.now
        return sent.filter { ids.contains($0.key) }.sorted { $0.key < $1.key }.map { $0.value.message.resent(after: now - $0.value.at) }
    }

    /// Resumes the request `reply` answers; false when nothing waits for it (it was cancelled).
    mutating func complete(_ id: UInt64, with reply: WireMessage) -> Bool {
        guard let waiter = waiters.removeValue(forKey: id) else { return false }
        sent[id] = nil
        waiter.resume(returning: reply)
        return true
    }

    /// The caller gave up: a registered request fails with `CancellationError` (true); one not
    /// registered yet is remembered, so it is never sent.
    mutating func cancel(_ id: UInt64) -> Bool {
        guard let waiter = waiters.removeValue(forKey: id) else {
            abandoned.insert(id)
            return false
        }
        sent[id] = nil
        waiter.resume(throwing: CancellationError())
        return true
    }

    /// Every waiting request fails with `error` (the connection is gone).
    mutating func failAll(_ error: any Error) {
        let failed = waiters
        waiters = [:]
        sent = [:]
        for waiter in failed.values { waiter.resume(throwing: error) }
    }
}

extension WireMessage {
    /// The request a reply answers (nil for messages that are not replies).
    var replyID: UInt64? {
        switch self {
        case .getReply(let id, _), .waitReply(let id, _), .requestDone(let id, _), .actorFound(let id, _), .streamItems(let id, _),
             .control(.kvReply(let id, _)), .control(.state(let id, _)):
            id
        default:
            nil
        }
    }
}
