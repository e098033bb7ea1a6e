import Logging
import Synchronization

/// A log handler for what strangers can make a server say (rejected connections, garbage on a
/// port): at most `burst` lines per `window` pass (10 per 10 s); the rest are counted and reported as one line
/// when the next passes. A flood of bad input cannot fill the disk with log.
package struct RateLimitedLogHandler: LogHandler {
    private var base: any LogHandler
    private let budget: Budget

    /// Wraps `base` (a logger's handler): at most `burst` lines per `window`.
    package init(_ base: any LogHandler, burst: Int = 10, window: Duration = .seconds(10)) {
        self.base = base
        budget = Budget(burst: burst, window: window)
    }

    /// `logger` with its lines rate-limited.
    package static func wrapping(_ logger: Logger, burst: Int = 10, window: Duration = .seconds(10)) -> Logger {
        var limited = logger
        limited.handler = RateLimitedLogHandler(logger.handler, burst: burst, window: window)
        return limited
    }

    package func log(event: LogEvent) {
        guard let suppressed = budget.take() else { return }
        if suppressed > 0 {
            var note = event
            note.message = "(\(suppressed) similar lines were suppressed in the last window)"
            note.error = nil
            base.log(event: note)
        }
        base.log(event: event)
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    package var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    package var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    /// Lines left in the current window, shared by copies of the handler.
    final class Budget: Sendable {
        private let burst: Int
        private let window: Duration
        private let state: Mutex<(started: ContinuousClock.Instant, passed: Int, suppressed: Int)>

        init(burst: Int, window: Duration) {
            self.burst = burst
            self.window = window
            state = Mutex((ContinuousClock.now, 0, 0))
        }

        /// nil: drop this line; else pass it, after a note of this many suppressed before it.
        func take() -> Int? {
            state.withLock { state in
                let now = ContinuousClock.now
                if now - state.started >= window { state = (now, 0, state.suppressed) }
                guard state.passed < burst else {
                    state.suppressed += 1
                    return nil
                }
                state.passed += 1
                defer { state.suppressed = 0 }
                return state.suppressed
            }
        }
    }
}

extension RayLog {
    /// The shared logger, rate-limited: for what unauthenticated peers and bad input cause.
    package static let untrusted = RateLimitedLogHandler.wrapping(logger)
}
