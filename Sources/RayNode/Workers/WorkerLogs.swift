import RayPlatform

/// Workers' output kept on disk: one file per worker process, `worker-<pid>.log` in the logs
/// folder, each line prefixed `(name pid=N)`. A file past `maxBytes` is rotated to `.1` (replacing
/// the previous one), so a chatty worker holds at most twice that. Confined to the node manager's loop.
final class WorkerLogs {
    let folder: String
    let maxBytes: Int
    private var open: [Int32: (fd: Int32, size: Int)] = [:]

    init(folder: String, maxBytes: Int = 10 << 20) {
        self.folder = folder
        self.maxBytes = maxBytes
        var path = ""
        for part in folder.split(separator: "/") {
            path += "/\(part)"
            mkdir(path, 0o700)
        }
    }

    static func file(in folder: String, pid: Int32) -> String { "\(folder)/worker-\(pid).log" }

    func append(_ text: String, pid: Int32) {
        guard var file = handle(pid) else { return }
        var bytes = Array(text.utf8)
        let written = write(file.fd, &bytes, bytes.count)
        if written > 0 { file.size += written }
        open[pid] = file
        if file.size > maxBytes { rotate(pid) }
    }

    /// The worker is gone: its file is closed (and kept).
    func close(pid: Int32) {
        if let file = open.removeValue(forKey: pid) { closeFD(file.fd) }
    }

    func closeAll() {
        for pid in Array(open.keys) { close(pid: pid) }
    }

    private func handle(_ pid: Int32) -> (fd: Int32, size: Int)? {
        if let file = open[pid] { return file }
        let path = Self.file(in: folder, pid: pid)
        let fd = openFile(path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        var info = stat()
        fstat(fd, &info)
        open[pid] = (fd, Int(info.st_size))
        return open[pid]
    }

    private func rotate(_ pid: Int32) {
        close(pid: pid)
        let path = Self.file(in: folder, pid: pid)
        rename(path, path + ".1")
    }

    /// The file's bytes from `offset` (the last `tailLines` lines of its last MiB when `offset` is
    /// nil), and the offset to read on from. Out-of-range values are clamped, never trusted.
    static func read(folder: String, pid: Int32, offset: Int?, tailLines: Int) -> (text: String, next: Int)? {
        let fd = openFile(file(in: folder, pid: pid), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { closeFD(fd) }
        var info = stat()
        fstat(fd, &info)
        let size = Int(info.st_size)
        let start = min(max(offset ?? (size - 1 << 20), 0), size)
        // A follower reads at most 1 MiB per call and comes back for the rest.
        var bytes = [UInt8](repeating: 0, count: min(size - start, 1 << 20))
        let count = bytes.isEmpty ? 0 : pread(fd, &bytes, bytes.count, off_t(start))
        var text = String(decoding: bytes.prefix(max(count, 0)), as: UTF8.self)
        if offset == nil {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            text = lines.suffix(min(max(tailLines, 0), lines.count - 1) + 1).joined(separator: "\n")
        }
        return (text, start + max(count, 0))
    }
}

private func closeFD(_ fd: Int32) { _ = close(fd) }
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 { open(path, flags, mode) }
