import Foundation

/// How full a machine's memory is, read as Ray's memory monitor reads it: the container's cgroup
/// (v2) when it sets a limit, else the whole machine (`/proc/meminfo`, `MemAvailable` counted free).
package struct MemoryUsage: Sendable, Equatable, CustomStringConvertible {
    package var used: Int64
    package var total: Int64

    package init(used: Int64, total: Int64) {
        self.used = used
        self.total = total
    }

    /// The used share, 0...1.
    package var fraction: Double { total > 0 ? Double(used) / Double(total) : 0 }

    /// `96.2% (7.70 of 8.00 GiB)`.
    package var description: String {
        let gib = { (bytes: Int64) in String(format: "%.2f", Double(bytes) / Double(1 << 30)) }
        return String(format: "%.1f%%", fraction * 100) + " (\(gib(used)) of \(gib(total)) GiB)"
    }

    /// This machine's (or container's) usage now; nil where it cannot be read.
    package static func current() -> MemoryUsage? {
        cgroup() ?? (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)).flatMap(meminfo)
    }

    /// `MemTotal` less `MemAvailable` (in kB in the file).
    package static func meminfo(_ text: String) -> MemoryUsage? {
        var fields: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            if parts.count >= 2, let value = Int64(parts[1]) { fields[String(parts[0])] = value * 1024 }
        }
        guard let total = fields["MemTotal"], let available = fields["MemAvailable"] ?? fields["MemFree"] else { return nil }
        return MemoryUsage(used: total - available, total: total)
    }

    /// A cgroup v2 limit: `memory.current` less reclaimable file pages, against `memory.max`.
    private static func cgroup() -> MemoryUsage? {
        let root = "/sys/fs/cgroup"
        guard let limit = read("\(root)/memory.max").flatMap(Int64.init), let current = read("\(root)/memory.current").flatMap(Int64.init) else { return nil }
        let physical = Int64(ProcessInfo.processInfo.physicalMemory)
        guard limit > 0, limit < physical else { return nil }  // "max" or above the machine: no limit of its own
        let stat = (try? String(contentsOfFile: "\(root)/memory.stat", encoding: .utf8)) ?? ""
        let inactive = stat.split(separator: "\n").first { $0.hasPrefix("inactive_file ") }.flatMap { Int64($0.split(separator: " ")[1]) } ?? 0
        return MemoryUsage(used: max(current - inactive, 0), total: limit)
    }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
