#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Connections that hold a server's resources without doing anything: idle ones (nothing sent,
/// or a request begun and never finished) and slow readers (requests sent, answers never read).
public enum ConnectionFloods {
    /// How a server took a flood of idle connections.
    public struct IdleOutcome: Sendable, CustomStringConvertible {
        /// Connections the server accepted (the rest were refused or timed out).
        public var opened = 0
        /// Those it closed (or answered with a refusal and closed) within the wait.
        public var closed = 0
        /// When the last of them was closed.
        public var lastClosed: Duration = .zero

        public var description: String {
            "\(closed) of \(opened) idle connections closed by the server, the last after \(lastClosed)"
        }
    }

    /// Opens `count` connections to `port` that send `preamble` (nothing by default) and then stay
    /// silent, and waits up to `wait` for the server to close every one.
    public static func idle(port: UInt16, count: Int, preamble: [UInt8] = [], wait: Duration) -> IdleOutcome {
        let started = ContinuousClock.now
        var open: [Int32] = []
        for _ in 0..<count {
            guard let connection = RawConnection(port: port, timeout: .milliseconds(500)) else { continue }
            if !preamble.isEmpty { connection.send(preamble) }
            open.append(connection.release())
        }
        var outcome = IdleOutcome(opened: open.count)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !open.isEmpty, ContinuousClock.now - started < wait {
            var pollers = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&pollers, nfds_t(pollers.count), 100) >= 0 else { continue }
            var still: [Int32] = []
            for poller in pollers {
                if poller.revents == 0 { still.append(poller.fd); continue }
                let got = recv(poller.fd, &buffer, buffer.count, 0)
                if got > 0 || (got < 0 && (errno == EAGAIN || errno == EINTR)) { still.append(poller.fd); continue }
                outcome.closed += 1
                outcome.lastClosed = ContinuousClock.now - started
                close(poller.fd)
            }
            open = still
        }
        for fd in open { close(fd) }
        return outcome
    }

    /// Opens `count` connections that each send `requests` and never read the answers, holds them
    /// for `hold`, then closes them. Returns how many the server accepted.
    public static func slowReaders(port: UInt16, count: Int, requests: [UInt8], hold: Duration) async throws -> Int {
        // Blocking connects and sends, so off Swift's cooperative pool.
        let held = await FuzzProtocol.offPool { () -> [Int32] in
            var held: [Int32] = []
            for _ in 0..<count {
                guard let connection = RawConnection(port: port, timeout: .milliseconds(500)) else { continue }
                connection.send(requests)
                held.append(connection.release())
            }
            return held
        }
        try await Task.sleep(for: hold)
        for fd in held {
            var linger = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            close(fd)
        }
        return held.count
    }
}
