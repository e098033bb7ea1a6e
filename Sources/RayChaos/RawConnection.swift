#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A plain blocking TCP client to `127.0.0.1:port`, for feeding servers what no real client sends:
/// every call has a deadline, and `abort()` closes with a reset so thousands of fuzz connections
/// leave no TIME_WAIT entries eating the ephemeral ports.
public struct RawConnection: ~Copyable {
    /// The socket.
    public let fd: Int32

    /// Connects within `timeout`; nil when the port refuses or does not answer in time.
    public init?(port: UInt16, timeout: Duration = .seconds(2)) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        Self.setTimeouts(fd, timeout)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
    }

    private static func setTimeouts(_ fd: Int32, _ timeout: Duration) {
        let micros = max(1, timeout.components.seconds * 1_000_000 + timeout.components.attoseconds / 1_000_000_000_000)
        var value = timeval(tv_sec: .init(micros / 1_000_000), tv_usec: .init(micros % 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends what the peer takes of `bytes`; false once it refuses (closed, reset, or the send timed out).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { pointer in
                #if canImport(Glibc)
                Glibc.send(fd, pointer.baseAddress! + sent, pointer.count - sent, Int32(MSG_NOSIGNAL))
                #else
                Darwin.send(fd, pointer.baseAddress! + sent, pointer.count - sent, 0)
                #endif
            }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    /// What the peer sends within `timeout` (once it has answered, what follows within 1 ms), and
    /// whether it closed the connection meanwhile.
    public func drain(for timeout: Duration) -> (bytes: Int, closed: Bool) {
        var deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        var total = 0
        while case let left = deadline - ContinuousClock.now, left > .zero {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let millis = Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            let ready = poll(&poller, 1, millis)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return (total, false) }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return (total, true) }
            if count < 0 { return (total, errno != EAGAIN && errno != EINTR) }
            total += count
            deadline = min(deadline, ContinuousClock.now + .milliseconds(1))
        }
        return (total, false)
    }

    /// Up to `count` bytes the peer sends within `timeout` (fewer if it closes or goes quiet).
    public func read(upTo count: Int, within timeout: Duration) -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: count)
        while bytes.count < count, ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) >= 0 else { continue }
            guard poller.revents != 0 else { continue }
            let got = recv(fd, &buffer, count - bytes.count, 0)
            guard got > 0 else { break }
            bytes += buffer[..<got]
        }
        return bytes
    }

    /// Reads (and drops) what the peer sends until it closes the connection (true) or `timeout`
    /// passes (false).
    public func closedByPeer(within timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if drain(for: deadline - ContinuousClock.now).closed { return true }
        }
        return false
    }

    /// Connects, sends `bytes`, and reports whether the server closed the connection within
    /// `timeout` (false also when the port refused the connection).
    public static func closedAfterSending(_ bytes: [UInt8], port: UInt16, within timeout: Duration = .seconds(15)) -> Bool {
        guard let connection = RawConnection(port: port) else { return false }
        connection.send(bytes)
        return connection.closedByPeer(within: timeout)
    }

    /// Closes with a reset (SO_LINGER 0).
    public consuming func abort() {
        var linger = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
        close(fd)
        discard self
    }

    /// Closes normally (FIN).
    public consuming func finish() {
        close(fd)
        discard self
    }

    /// Hands the descriptor to the caller, who closes it (floods poll thousands at once).
    public consuming func release() -> Int32 {
        let fd = self.fd
        discard self
        return fd
    }

    deinit { close(fd) }
}

/// A listening socket on a free loopback port that never accepts (the kernel completes handshakes
/// into its backlog): a server that answers nothing, for testing clients' timeouts.
public struct SilentListener: ~Copyable {
    /// The socket.
    public let fd: Int32
    /// Its port.
    public let port: UInt16

    /// Listens on a free loopback port. - Throws: `POSIXError` when no socket can be bound.
    public init() throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }
}
