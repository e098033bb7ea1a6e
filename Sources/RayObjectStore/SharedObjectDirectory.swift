import RayWire
import RayPlatform

/// The node's shared-memory object store on disk: one sealed file per large object in a private
/// folder under /dev/shm (tmpfs, so the bytes are memory, mapped by every reader). A writer writes
/// `<id>.<pid>.tmp` and renames it to `<id>` to seal it, so a writer that dies mid-write leaves nothing
/// visible; the node manager unlinks an object's file when the object is freed, and the whole
/// folder goes at shutdown.
package struct SharedObjectDirectory: Sendable {
    /// The folder.
    package let path: String
    /// Where objects go when the store is over `capacity` (on disk).
    package let spillPath: String
    /// Bytes the store holds in memory before it spills the oldest objects.
    package let capacity: Int
    /// How long a writer waits for room when the store is full and cannot spill, before it throws
    /// `ObjectStoreFullError`.
    package let fullWait: Duration

    package init(path: String, spillPath: String, capacity: Int, fullWait: Duration = .seconds(5)) {
        self.path = path
        self.spillPath = spillPath
        self.capacity = capacity
        self.fullWait = fullWait
    }

    /// A fresh folder for a node: under /dev/shm when it exists, else the temporary directory.
    /// `nodeID` ends with the driver's pid (`node-<pid>`).
    package static func forNode(
        _ nodeID: String, capacity: Int, spillBase: String? = nil, fullWait: Duration = .seconds(5)
    ) -> SharedObjectDirectory {
        SharedObjectDirectory(
            path: "\(base)/swiftray-\(nodeID)",
            spillPath: "\(spillBase ?? getenvString("TMPDIR") ?? "/tmp")/swiftray-spill-\(nodeID)", capacity: capacity,
            fullWait: fullWait)
    }

    /// The store as described to a worker through its environment, if it has one.
    package static func fromEnvironment() -> SharedObjectDirectory? {
        guard let path = getenvString("SWIFTRAY_OBJECT_DIR"), let spill = getenvString("SWIFTRAY_SPILL_DIR"),
              let capacity = getenvString("SWIFTRAY_OBJECT_CAPACITY").flatMap(Int.init) else { return nil }
        let wait = getenvString("SWIFTRAY_OBJECT_FULL_WAIT_MS").flatMap(Int64.init) ?? 5000
        return SharedObjectDirectory(path: path, spillPath: spill, capacity: capacity, fullWait: .milliseconds(wait))
    }

    /// The environment that describes the store to a worker.
    package var environment: [String] {
        ["SWIFTRAY_OBJECT_DIR=\(path)", "SWIFTRAY_SPILL_DIR=\(spillPath)", "SWIFTRAY_OBJECT_CAPACITY=\(capacity)",
         "SWIFTRAY_OBJECT_FULL_WAIT_MS=\(Duration.wireMillis(fullWait))"]
    }

    /// The marker the node manager keeps while the store is over capacity and cannot spill: writers
    /// check it before writing a large object (one `access` call) and wait for room.
    private var fullMarker: String { "\(path)/.full" }

    /// Whether the store is over capacity with nothing it could spill.
    package var isFull: Bool { access(fullMarker, F_OK) == 0 }

    /// Sets or clears the full marker (node manager only).
    package func setFull(_ full: Bool) {
        if full {
            let fd = open(fullMarker, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 { close(fd) }
        } else {
            unlink(fullMarker)
        }
    }

    /// The file to read an object from: in memory, or spilled to disk.
    package func readableFile(for id: ObjectID) -> String {
        let file = file(for: id)
        return access(file, F_OK) == 0 ? file : "\(spillPath)/\(id)"
    }

    /// Moves an object's file to the spill folder (readers that mapped it keep their mapping).
    package func spill(_ id: ObjectID) -> Bool { spill(named: "\(id)") }

    /// Moves the object file `name` (in this folder) to the spill folder.
    package func spill(named name: String) -> Bool {
        let source = "\(path)/\(name)"
        let target = "\(spillPath)/\(name)"
        mkdir(spillPath, 0o700)
        guard copyFile(source, to: target + ".tmp"), rename(target + ".tmp", target) == 0 else {
            unlink(target + ".tmp")
            return false
        }
        unlink(source)
        return true
    }

    private func copyFile(_ source: String, to target: String) -> Bool {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return false }
        defer { close(input) }
        let output = open(target, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { return false }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count == 0 { return true }
            guard count > 0 else { return false }
            var written = 0
            while written < count {
                let step = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                guard step > 0 else { return false }
                written += step
            }
        }
    }

    /// Removes a spilled object's file.
    package func removeSpilled(_ id: ObjectID) { unlink("\(spillPath)/\(id)") }

    private static var base: String {
        var info = stat()
        return stat("/dev/shm", &info) == 0 ? "/dev/shm" : (getenvString("TMPDIR") ?? "/tmp")
    }

    /// Removes the folders of drivers that died without shutting down (SIGKILL leaves them).
    package static func removeStale() {
        for name in entries(of: base) where name.hasPrefix("swiftray-node-") {
            guard let pid = Int32(name.dropFirst("swiftray-node-".count)), kill(pid, 0) != 0, errno == ESRCH else { continue }
            forNode(String(name.dropFirst("swiftray-".count)), capacity: 0).removeAll()
        }
    }

    /// The names in a folder (without `.` and `..`), or none if it cannot be read.
    package static func entries(of folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The sealed objects in memory and spilled to disk, by their files' names and sizes (a
    /// rejoining node reports them to its head).
    package func storedObjects() -> [StoredObject] {
        [path, spillPath].flatMap { folder in
            Self.entries(of: folder).compactMap { name -> StoredObject? in
                guard let id = RayID(name) else { return nil }  // unsealed, recycled, the full marker
                var info = stat()
                guard stat("\(folder)/\(name)", &info) == 0 else { return nil }
                return StoredObject(id: id, size: Int(info.st_size))
            }
        }
    }

    /// The sealed file of an object.
    package func file(for id: ObjectID) -> String { "\(path)/\(id)" }

    /// The file a process writes an object into before sealing it.
    package func temporaryFile(for id: ObjectID, writer pid: Int32) -> String { "\(path)/\(id).\(pid).tmp" }

    /// Removes what a process that died mid-write left behind.
    package func removeUnsealed(by pid: Int32) {
        let suffix = ".\(pid).tmp"
        for name in Self.entries(of: path) where name.hasSuffix(suffix) { unlink("\(path)/\(name)") }
    }

    /// Creates the folder (owner-only).
    package func create() throws {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw WireError.malformed("cannot create the object store folder \(path): \(errnoText())")
        }
    }

    /// Removes an object's file.
    package func remove(_ id: ObjectID) { unlink(file(for: id)) }

    /// Keeps a freed object's file for reuse: writing into memory that is already allocated skips
    /// the page allocation and zeroing that dominate large writes. Returns the file's new name.
    package func recycle(_ id: ObjectID, size: Int) -> String? {
        let name = "free-\(size)-\(id)"
        return rename(file(for: id), "\(path)/\(name)") == 0 ? name : nil
    }

    /// Removes a recycled file (nothing if a writer took it meanwhile).
    package func removeRecycled(_ name: String) { unlink("\(path)/\(name)") }

    /// Takes a recycled file of at least `size` bytes (and at most twice that) by renaming it to
    /// `destination`; the rename makes the take atomic between processes.
    package func takeRecycled(atLeast size: Int, as destination: String) -> Bool {
        let candidates = Self.entries(of: path).compactMap { name -> (size: Int, name: String)? in
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "free", let fileSize = Int(parts[1]),
                  fileSize >= size, fileSize <= 2 * size else { return nil }
            return (fileSize, name)
        }
        for candidate in candidates.sorted(by: { $0.size < $1.size }) where rename("\(path)/\(candidate.name)", destination) == 0 {
            return true
        }
        return false
    }

    /// Removes the folder and the spill folder, with everything in them.
    package func removeAll() {
        for folder in [path, spillPath] {
            for name in Self.entries(of: folder) { unlink("\(folder)/\(name)") }
            rmdir(folder)
        }
    }
}
