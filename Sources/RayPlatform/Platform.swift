// The C library, once: every module that imports RayPlatform sees Glibc (or Darwin) too, so the
// platform switch lives here and nowhere else.
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Darwin)
@_exported import Darwin
#endif

/// The text of an `errno` value (`strerror`), for error messages.
package func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// Runs a system call until it is not interrupted (`EINTR`); returns its last result.
@inlinable
package func retryingOnInterrupt<T: FixedWidthInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result < 0, errno == EINTR { continue }
        return result
    }
}

/// Microseconds since the Unix epoch, for task and job times.
package func wallMicros() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

/// This machine's memory in bytes.
package func physicalMemoryBytes() -> Int {
    Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Calls `body` with `strings` as a NULL-terminated array of C strings (an `argv` or `envp`),
/// freed afterwards.
package func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}

/// Whether a process with this pid exists and has not exited. A zombie (exited, not yet reaped)
/// counts as gone: a daemon's parent is init, which may reap it only seconds later.
package func processIsRunning(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    #if os(Linux)
    let fd = open("/proc/\(pid)/stat", O_RDONLY)
    guard fd >= 0 else { return true }
    defer { close(fd) }
    // "pid (name) S ...": the state follows the last parenthesis (names may hold one).
    var buffer = [UInt8](repeating: 0, count: 512)
    let count = read(fd, &buffer, buffer.count)
    guard count > 0, let paren = buffer[..<count].lastIndex(of: UInt8(ascii: ")")), paren + 2 < count else { return true }
    let state = buffer[paren + 2]
    return state != UInt8(ascii: "Z") && state != UInt8(ascii: "X")
    #else
    return true
    #endif
}
