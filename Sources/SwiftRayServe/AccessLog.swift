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

/// An open access log. A caller that finds no write under way writes its line itself, before its
/// response goes out; lines logged meanwhile are written together by the caller already writing,
/// so under load many lines cost one `write` (one per line was ~2% of the proxy's CPU samples).
final class AccessLogWriter: Sendable {
    let path: String
    private let fd: Int32
    /// Lines waiting for the writer, and whether a caller is writing.
    private let pending = Mutex<(lines: [UInt8], writing: Bool)>(([], false))

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
        let hundredths = (latency.components.seconds * 100_000 + latency.components.attoseconds / 10_000_000_000_000)
        var line = Self.timestamp()
        line += " \(application) \(method) \(path) \(status) \(hundredths / 100).\(Self.digits(Int(hundredths % 100), 2))ms\n"
        var batch = pending.withLock { state -> [UInt8]? in
            state.lines.append(contentsOf: line.utf8)
            guard !state.writing else { return nil }
            state.writing = true
            defer { state.lines = [] }
            return state.lines
        }
        while let lines = batch {
            _ = lines.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            batch = pending.withLock { state -> [UInt8]? in
                guard !state.lines.isEmpty else {
                    state.writing = false
                    return nil
                }
                defer { state.lines = [] }
                return state.lines
            }
        }
    }

    /// UTC time with milliseconds (no `String(format:)`: this runs once per request).
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return "\(digits(Int(parts.tm_year) + 1900, 4))-\(digits(Int(parts.tm_mon) + 1, 2))-\(digits(Int(parts.tm_mday), 2))T"
            + "\(digits(Int(parts.tm_hour), 2)):\(digits(Int(parts.tm_min), 2)):\(digits(Int(parts.tm_sec), 2)).\(digits(now.tv_nsec / 1_000_000, 3))Z"
    }

    /// `value` with leading zeros to `width` digits.
    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
