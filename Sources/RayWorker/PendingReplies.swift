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

    mutating func newID() -> UInt64 {
        lastID += 1
        return lastID
    }

    /// Whether the request was cancelled before it could be registered (forgets it).
    mutating func wasAbandoned(_ id: UInt64) -> Bool { abandoned.remove(id) != nil }

    mutating func register(_ id: UInt64, _ waiter: Waiter) { waiters[id] = waiter }

    /// Resumes the request `reply` answers; false when nothing waits for it (it was cancelled).
    mutating func complete(_ id: UInt64, with reply: WireMessage) -> Bool {
        guard let waiter = waiters.removeValue(forKey: id) else { return false }
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
        waiter.resume(throwing: CancellationError())
        return true
    }

    /// Every waiting request fails with `error` (the connection is gone).
    mutating func failAll(_ error: any Error) {
        let failed = waiters
        waiters = [:]
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
