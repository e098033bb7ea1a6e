import Foundation

/// What a fuzzed server process holds, read from `/proc` (Linux): the figures that must come back
/// to their baseline once the fuzzing stops.
public struct ProcessVitals: Sendable, Equatable, CustomStringConvertible {
    /// Open file descriptors.
    public var descriptors: Int
    /// Resident memory, bytes.
    public var residentBytes: Int

    /// The vitals of `pid` now; nil when it is gone.
    public static func of(_ pid: Int32) -> ProcessVitals? {
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        return ProcessVitals(descriptors: fds.count, residentBytes: rss * 1024)
    }

    public var description: String { "\(descriptors) descriptors, \(residentBytes >> 20) MiB resident" }

    /// Waits (up to `timeout`) for `pid`'s descriptors to come back within `slack` of `baseline`
    /// (connections a server is still closing); returns its vitals then, or when the time is up
    /// (nil: it is gone).
    public static func settled(_ pid: Int32, to baseline: ProcessVitals, slack: Int = 2, timeout: Duration = .seconds(20)) async -> ProcessVitals? {
        let deadline = ContinuousClock.now + timeout
        while let now = of(pid), now.descriptors > baseline.descriptors + slack, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return of(pid)
    }

    /// The TCP ports `pid` listens on (IPv4 and IPv6): every socket in `/proc/PID/fd` that
    /// `/proc/net/tcp*` lists in the LISTEN state. The fuzzer finds every port a process opened,
    /// not just the ones a test remembered.
    public static func listeningPorts(of pid: Int32) -> [UInt16] {
        let inodes = socketInodes(of: pid)
        var ports = Set<UInt16>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                // local_address rem_address st ... inode (field 9); 0A is LISTEN.
                guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])),
                      let port = fields[1].split(separator: ":").last.flatMap({ UInt16($0, radix: 16) }) else { continue }
                ports.insert(port)
            }
        }
        return ports.sorted()
    }

    private static func socketInodes(of pid: Int32) -> Set<String> {
        let folder = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return Set(names.compactMap { name in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(name)"),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst(8).dropLast())
        })
    }
}
