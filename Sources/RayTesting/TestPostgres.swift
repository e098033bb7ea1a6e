import Foundation
import RayPlatform

/// A throwaway PostgreSQL server for tests (Debian's `postgresql`): a new database cluster in a
/// temporary folder, listening on a Unix socket there and on no TCP port, trusting local logins.
/// `stop()` shuts it down and removes the folder; call it in `tearDown`. Run as root, the server
/// runs as the `postgres` user (PostgreSQL refuses root).
public final class TestPostgres: @unchecked Sendable {
    /// The folder holding the data and the socket.
    public let folder: String
    /// A URL `swiftray start --head --state-store` takes: `postgres://postgres@/postgres?host=FOLDER`.
    public var url: String { "postgres://postgres@/postgres?host=\(folder)" }
    private let binaries: String
    private var running = false

    /// Creates and starts the server.
    /// - Throws: `TestClusterError` when PostgreSQL is not installed (`initdb` and `pg_ctl` in
    ///   `/usr/lib/postgresql/*/bin`) or does not start, with its output.
    public init() throws {
        guard let binaries = Self.binaries() else {
            throw TestClusterError(message: "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
        }
        self.binaries = binaries
        folder = NSTemporaryDirectory() + "swiftray-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if geteuid() == 0, let user = getpwnam("postgres") { chown(folder, user.pointee.pw_uid, user.pointee.pw_gid) }
        do {
            try run("initdb", ["-D", "\(folder)/data", "-A", "trust", "-U", "postgres", "--no-sync"])
            try run("pg_ctl", ["-D", "\(folder)/data", "-l", "\(folder)/server.log", "-w", "-o", "-k \(folder) -c listen_addresses=''", "start"])
            running = true
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    /// Stops the server at once and removes its folder.
    public func stop() {
        if running { _ = try? run("pg_ctl", ["-D", "\(folder)/data", "-m", "immediate", "-w", "stop"]) }
        running = false
        try? FileManager.default.removeItem(atPath: folder)
    }

    deinit { stop() }

    /// Runs one of PostgreSQL's programs (as `postgres` when root).
    private func run(_ program: String, _ arguments: [String]) throws {
        let path = "\(binaries)/\(program)"
        let (status, output) = geteuid() == 0
            ? try RayTesting.runProcess("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
            : try RayTesting.runProcess(path, arguments)
        guard status == 0 else { throw TestClusterError(message: "\(program) failed (\(status)):\n\(output)") }
    }

    private static func binaries() -> String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
            .map { "/usr/lib/postgresql/\($0)/bin" }
            .first { access("\($0)/initdb", X_OK) == 0 && access("\($0)/pg_ctl", X_OK) == 0 }
    }
}
