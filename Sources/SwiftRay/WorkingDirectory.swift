import RayPlatform
import RayTransport
import RayWire
import RayWorker
import Synchronization

/// A runtime environment's working directory (Ray's `working_dir`): packed once per process from
/// the caller's directory into one object in the cluster's object store, named by a hash of its
/// contents, and unpacked once per node (into `<temp dir>/working_dirs/<hash>`) by the first
/// worker that needs it; every worker of the environment runs in it.
enum WorkingDirectory {
    /// The environment variable that carries the package to workers: `<hash>@<object id>`. Part of
    /// the worker pool's environment, so workers of different working directories never mix.
    static let variable = "SWIFTRAY_WORKING_DIR_PACKAGE"

    /// The largest directory packed, in bytes: 100 MiB, or `SWIFTRAY_WORKING_DIR_MAX_MB`.
    static var maxBytes: Int {
        (getenvString("SWIFTRAY_WORKING_DIR_MAX_MB").flatMap(Int.init) ?? 100) << 20
    }

    /// One file or folder of a packed directory.
    struct Entry: Codable, Sendable {
        /// Relative to the directory.
        var path: String
        var isDirectory: Bool
        var mode: UInt32
        var bytes: [UInt8]
    }

    /// A packed directory, as stored in the object store.
    struct Archive: Codable, Sendable {
        var entries: [Entry]
    }

    /// A directory packed by this process, and the ref that keeps its object alive.
    private struct Packed {
        let value: String
        let ref: ObjectRef<Archive>
    }

    private static let packed = Mutex<[String: Packed]>([:])

    /// The value of `variable` for `path`: packs and stores it the first time.
    /// - Throws: `RaySystemError` if it is missing, unreadable or larger than `maxBytes`.
    static func package(_ path: String) throws -> String {
        let absolute = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
        if let known = packed.withLock({ $0[absolute] }) { return known.value }
        let archive = try pack(absolute)
        let ref = try ray.put(archive)
        let value = "\(hash(archive))@\(ref.id.high)-\(ref.id.low)"
        packed.withLock { $0[absolute] = Packed(value: value, ref: ref) }
        return value
    }

    /// Forgets the packages (swift-ray stopped: their objects are gone).
    static func reset() { packed.withLock { $0 = [:] } }

    static func pack(_ root: String) throws -> Archive {
        var entries: [Entry] = []
        var total = 0
        try walk(root, relative: "") { entry in
            total += entry.bytes.count
            guard total <= maxBytes else {
                throw RaySystemError(message: "the working directory \(root) holds more than \(maxBytes >> 20) MiB, the limit (set SWIFTRAY_WORKING_DIR_MAX_MB, or move large files out of it)")
            }
            entries.append(entry)
        }
        return Archive(entries: entries)
    }

    private static func walk(_ root: String, relative: String, _ visit: (Entry) throws -> Void) throws {
        let folder = relative.isEmpty ? root : "\(root)/\(relative)"
        guard let directory = opendir(folder) else {
            throw RaySystemError(message: "cannot read the working directory \(folder): \(errnoText())")
        }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(directory)
        for name in names.sorted() {
            let path = relative.isEmpty ? name : "\(relative)/\(name)"
            var info = stat()
            guard lstat("\(root)/\(path)", &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                try visit(Entry(path: path, isDirectory: true, mode: UInt32(info.st_mode & 0o777), bytes: []))
                try walk(root, relative: path, visit)
            case S_IFREG:
                try visit(Entry(path: path, isDirectory: false, mode: UInt32(info.st_mode & 0o777), bytes: try read("\(root)/\(path)")))
            default:
                RayLog.logger.warning("working directory \(root): leaving out \(path), which is neither a file nor a folder")
            }
        }
    }

    private static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RaySystemError(message: "cannot read \(path): \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        let count = bytes.withUnsafeMutableBytes { PositionedIO.read(fd, into: $0, at: 0) }
        guard count == bytes.count else { throw RaySystemError(message: "cannot read \(path): it changed while it was packed") }
        return bytes
    }

    /// A 64-bit hash of the entries (paths, kinds, modes and contents), with their total size.
    static func hash(_ archive: Archive) -> String {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var size = 0
        func mix(_ byte: UInt8) {
            state = (state ^ UInt64(byte)) &* 0xBF58_476D_1CE4_E5B9
            state ^= state >> 31
        }
        for entry in archive.entries {
            for byte in entry.path.utf8 { mix(byte) }
            mix(entry.isDirectory ? 1 : 0)
            withUnsafeBytes(of: entry.mode.littleEndian) { $0.forEach(mix) }
            withUnsafeBytes(of: UInt64(entry.bytes.count).littleEndian) { $0.forEach(mix) }
            for byte in entry.bytes { mix(byte) }
            size += entry.bytes.count
        }
        return String(state, radix: 16) + "-\(size)"
    }

    private static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension WorkingDirectory {
    /// This worker's package (its environment never changes).
    private static let assigned = getenvString(variable)

    /// Set up on a worker's first task or actor, then shared by the rest.
    private static let setup = Mutex<Task<Void, any Error>?>(nil)

    /// Moves this worker into its environment's working directory, unpacking the package on this
    /// node first if no worker here has (nothing without a package).
    /// - Throws: `RaySystemError` when the package cannot be fetched or unpacked.
    static func prepare() async throws {
        guard let value = assigned else { return }
        let task = setup.withLock { current in
            if let current { return current }
            let task = Task { try await enter(value) }
            current = task
            return task
        }
        try await task.value
    }

    private static func enter(_ value: String) async throws {
        let parts = value.split(separator: "@")
        let halves = parts.count == 2 ? parts[1].split(separator: "-").compactMap { UInt64($0) } : []
        guard halves.count == 2 else { throw RaySystemError(message: "malformed \(variable): \(value)") }
        let base = ClusterFiles().root + "/working_dirs"
        let target = "\(base)/\(parts[0])"
        if access(target, F_OK) != 0 {
            let archive = try await ray.get(ObjectRef<Archive>(id: RayID(high: halves[0], low: halves[1])))
            try unpack(archive, into: target, base: base)
        }
        guard chdir(target) == 0 else { throw RaySystemError(message: "cannot enter the working directory \(target): \(errnoText())") }
    }

    /// Writes the archive into a new folder beside `target`, then renames it into place (a worker
    /// that lost the race to another removes its copy).
    static func unpack(_ archive: Archive, into target: String, base: String) throws {
        for folder in [ClusterFiles().root, base] where mkdir(folder, 0o700) != 0 && errno != EEXIST {
            throw RaySystemError(message: "cannot create \(folder): \(errnoText())")
        }
        let temporary = "\(target).\(getpid()).part"
        guard mkdir(temporary, 0o700) == 0 else { throw RaySystemError(message: "cannot create \(temporary): \(errnoText())") }
        do {
            for entry in archive.entries { try write(entry, under: temporary) }
        } catch {
            remove(archive, under: temporary)
            throw error
        }
        guard rename(temporary, target) == 0 else {
            let reason = errnoText()
            remove(archive, under: temporary)
            if access(target, F_OK) == 0 { return }  // another worker unpacked it first
            throw RaySystemError(message: "cannot move the working directory into \(target): \(reason)")
        }
    }

    private static func write(_ entry: Entry, under folder: String) throws {
        let parts = entry.path.split(separator: "/")
        guard !entry.path.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }) else {
            throw RaySystemError(message: "the working directory package holds a bad path: \(entry.path)")
        }
        let path = "\(folder)/\(entry.path)"
        if entry.isDirectory {
            guard mkdir(path, mode_t(entry.mode | 0o700)) == 0 else { throw RaySystemError(message: "cannot create \(path): \(errnoText())") }
            return
        }
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode_t(entry.mode | 0o600))
        guard fd >= 0 else { throw RaySystemError(message: "cannot create \(path): \(errnoText())") }
        defer { close(fd) }
        let written = entry.bytes.withUnsafeBytes { PositionedIO.write(fd, $0, at: 0) }
        guard written else { throw RaySystemError(message: "cannot write \(path): \(errnoText())") }
    }

    /// Removes what `unpack` wrote under `folder`, deepest first.
    private static func remove(_ archive: Archive, under folder: String) {
        for entry in archive.entries.reversed() {
            let path = "\(folder)/\(entry.path)"
            if entry.isDirectory { rmdir(path) } else { unlink(path) }
        }
        rmdir(folder)
    }
}
