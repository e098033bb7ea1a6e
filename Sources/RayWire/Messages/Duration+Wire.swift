extension Duration {
    /// Milliseconds, rounded up, for the wire; -1 means no timeout.
    public static func wireMillis(_ duration: Duration?) -> Int64 {
        guard let duration else { return -1 }
        let (seconds, attoseconds) = duration.components
        if seconds < 0 { return 0 }
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}

extension WireMessage {
    /// This request sent again `elapsed` after it was first sent (to a restarted head): a `get` or
    /// `wait` keeps only what is left of its timeout, so the caller's timeout holds across the
    /// two heads. Any other message is itself.
    public func resent(after elapsed: Duration) -> WireMessage {
        let spent = Duration.wireMillis(elapsed)
        switch self {
        case .get(let id, let caller, let ids, let timeout) where timeout >= 0:
            return .get(requestID: id, caller: caller, ids: ids, timeoutMillis: max(0, timeout - spent))
        case .wait(let id, let caller, let ids, let count, let timeout) where timeout >= 0:
            return .wait(requestID: id, caller: caller, ids: ids, numReturns: count, timeoutMillis: max(0, timeout - spent))
        default:
            return self
        }
    }
}
