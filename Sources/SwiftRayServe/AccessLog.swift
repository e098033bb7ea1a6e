import Foundation
import Synchronization

/// The proxy's access log (Ray Serve's access lines): one line per request with the time, the
/// application, method, path, status and latency, appended to a file
/// (`2026-11-30T22:50:01.123Z classifier POST /classify 200 0.84ms`).
public struct AccessLog: Sendable {
    let path: String?

    /// Lines appended to `path` (created with its folders).
    public static func file(_ path: String) -> AccessLog { AccessLog(path: path) }
    /// No access log.
    public static let off = AccessLog(path: nil)
    /// `$TMPDIR/swiftray/serve/access-<pid>.log` (the default).
    public static var standard: AccessLog {
        .file(FileManager.default.temporaryDirectory.appendingPathComponent("swiftray/serve/access-\(getpid()).log").path)
    }
}

/// An open access log: one `write` per line (appends of a line are not interleaved).
final class AccessLogWriter: Sendable {
    let path: String
    private let fd: Int32

    /// - Throws: `ServeError` when the file cannot be opened.
    init(path: String) throws {
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ServeError("cannot open the access log \(path): \(String(cString: strerror(errno)))") }
        self.path = path
    }

    deinit { close(fd) }

    func log(application: String, method: String, path: String, status: Int, latency: Duration) {
        let ms = Double(latency.components.seconds) * 1000 + Double(latency.components.attoseconds) / 1e15
        let line = "\(Self.timestamp()) \(application) \(method) \(path) \(status) \(String(format: "%.2f", ms))ms\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
    }

    /// UTC time with milliseconds.
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), now.tv_nsec / 1_000_000)
    }
}
