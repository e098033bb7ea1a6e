#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP socket the collective's own threads use with blocking calls: a ring step is a long
/// stream of bytes between two fixed peers, where a thread per direction beats an event loop.
/// `shutdown()` from any thread wakes a call blocked on it, which is how a failure spreads.
final class PeerSocket: @unchecked Sendable {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Sends every byte; false on a broken link.
    func writeAll(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let count = send(fd, bytes.baseAddress! + done, bytes.count - done, Self.noSignal)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            done += count
        }
        return true
    }

    /// Fills `buffer`; false if the peer closed or the link broke first.
    func readAll(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        var done = 0
        while done < buffer.count {
            let count = recv(fd, buffer.baseAddress! + done, buffer.count - done, 0)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            done += count
        }
        return true
    }

    func write<T: FixedWidthInteger>(_ value: T) -> Bool {
        withUnsafeBytes(of: value.littleEndian) { writeAll($0) }
    }

    func read<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        var value = T.zero
        guard withUnsafeMutableBytes(of: &value, { readAll($0) }) else { return nil }
        return T(littleEndian: value)
    }

    /// A length-prefixed message (handshakes), at most `limit` bytes.
    func writeMessage(_ bytes: [UInt8]) -> Bool {
        write(UInt32(bytes.count)) && bytes.withUnsafeBytes { writeAll($0) }
    }

    func readMessage(limit: Int = 1 << 16) -> [UInt8]? {
        guard let length = read(UInt32.self), Int(length) <= limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        guard bytes.withUnsafeMutableBytes({ readAll($0) }) else { return nil }
        return bytes
    }

    /// Whether the link is up: on a link that carries no more data, anything to read means the
    /// other end closed (or this one was shut down).
    var isOpen: Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) == 0
    }

    /// Ends both directions: blocked reads and writes on it return at once, on both ends.
    func shutdown() { _ = Glibc_shutdown(fd) }

    /// Bounds each blocking read (handshakes with strangers must not hang a member).
    func setReceiveTimeout(_ seconds: Double) {
        var time = timeval(tv_sec: Int(seconds), tv_usec: .init((seconds - seconds.rounded(.down)) * 1_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    }

    private func setNoDelay() {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    #if canImport(Glibc)
    private static let noSignal = Int32(MSG_NOSIGNAL)
    #else
    private static let noSignal: Int32 = 0
    #endif

    /// A listening socket on every interface, on a port the kernel picks.
    static func listen() throws(CollectiveError) -> (socket: PeerSocket, port: Int) {
        let fd = socket(AF_INET, Self.streamType, 0)
        guard fd >= 0 else { throw .system("socket: \(errnoText())") }
        let listener = PeerSocket(fd: fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc_listen(fd, 16) == 0 else { throw .system("bind/listen: \(errnoText())") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// The next connection, or nil once `deadline` (monotonic seconds) passes.
    func accept(until deadline: Double) throws(CollectiveError) -> PeerSocket? {
        while true {
            let left = deadline - Self.now()
            guard left > 0 else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, 1) * 1000) + 1)
            if ready < 0, errno != EINTR { throw .system("poll: \(errnoText())") }
            guard ready > 0 else { continue }
            let client = Glibc_accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
                throw .system("accept: \(errnoText())")
            }
            let socket = PeerSocket(fd: client)
            socket.setNoDelay()
            return socket
        }
    }

    /// A connection to `host:port` within `timeout` seconds, or nil if it is refused, unreachable
    /// or slow (a peer may publish addresses this machine cannot route to).
    static func connect(host: String, port: Int, timeout: Double = 3) -> PeerSocket? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Self.streamType
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return nil }
        defer { freeaddrinfo(found) }
        let fd = socket(AF_INET, Self.streamType, 0)
        guard fd >= 0 else { return nil }
        let socket = PeerSocket(fd: fd)
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc_connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return nil }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) == 0, failure == 0 else { return nil }
        }
        _ = fcntl(fd, F_SETFL, flags)
        socket.setNoDelay()
        return socket
    }

    /// This machine's IPv4 addresses, routable ones first and loopback last: what a member
    /// publishes, since a peer on another machine needs one it can reach.
    static func localAddresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return ["127.0.0.1"] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        var entry = list
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                var raw = inet.pointee.sin_addr
                _ = inet_ntop(AF_INET, &raw, &text, socklen_t(INET_ADDRSTRLEN))
            }
            let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if host != "127.0.0.1", !addresses.contains(host) { addresses.append(host) }
        }
        return addresses + ["127.0.0.1"]
    }

    /// Monotonic seconds, for deadlines.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    #if canImport(Glibc)
    private static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    private static let streamType = SOCK_STREAM
    #endif
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

// The C calls whose names the type's own methods shadow.
private func Glibc_shutdown(_ fd: Int32) -> Int32 { shutdown(fd, Int32(SHUT_RDWR)) }
private func Glibc_listen(_ fd: Int32, _ backlog: Int32) -> Int32 { listen(fd, backlog) }
private func Glibc_accept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<socklen_t>?) -> Int32 {
    accept(fd, address, length)
}
private func Glibc_connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
