/// The sockets swift-ray opens in a user's process (a driver's connection to its head, an embedded
/// cluster's servers, a worker's channel), kept from the processes it starts: NIO opens its
/// sockets inheritable, and a child holding one keeps the connection open after swift-ray closed
/// it (a head would wait for a driver that has left).
package enum OwnSockets {
    /// The socket descriptors open now.
    package static func current() -> Set<Int32> {
        var sockets: Set<Int32> = []
        for fd in openDescriptors() {
            var info = stat()
            if fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { sockets.insert(fd) }
        }
        return sockets
    }

    /// Marks close-on-exec the sockets opened since `before` was taken.
    package static func keepFromChildren(openedSince before: Set<Int32>) {
        for fd in current().subtracting(before) { keepFromChildren(fd) }
    }

    /// Marks one descriptor close-on-exec.
    package static func keepFromChildren(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }

    private static func openDescriptors() -> [Int32] {
        #if os(Linux)
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        var fds: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name) { fds.append(fd) }
        }
        return fds
        #else
        return Array(0..<Int32(min(getdtablesize(), 4096)))
        #endif
    }
}
