import RayObjectStore
import RayPlatform

/// Where this machine's cluster daemons keep their files, under one folder (`--temp-dir`,
/// `SWIFTRAY_TEMP_DIR`, default `/tmp/swiftray`):
///
/// - `head_address`: `host:port` of the head started here (what `"auto"` connects to);
/// - `token`: the cluster token, mode 0600;
/// - `daemons/<pid>`: one file per running daemon, for `swiftray stop`;
/// - `logs/`: each daemon's output; `binaries/<hash>`: cached job executables.
package struct ClusterFiles: Sendable {
    package let root: String

    package init(root: String? = nil) {
        self.root = root ?? getenvString("SWIFTRAY_TEMP_DIR") ?? "/tmp/swiftray"
    }

    package var headAddressFile: String { "\(root)/head_address" }
    /// The pid of the process serving `head_address` (a head daemon, or a driver's embedded cluster).
    package var headPIDFile: String { "\(root)/head_pid" }

    /// Whether a live process serves the recorded head address.
    package var liveHeadRecorded: Bool {
        guard access(headAddressFile, F_OK) == 0, let pid = Self.readText(headPIDFile).flatMap(Int32.init) else { return false }
        return pid == getpid() || processIsRunning(pid)
    }

    /// Records this process as the one serving `address` (head address, pid, token files, and the
    /// TLS certificate and key, PEM, when it serves TLS).
    package func recordHead(address: String, token: String, tls: (certificatePEM: String, keyPEM: String?)? = nil) throws {
        try create()
        try writeText(token, to: tokenFile, mode: 0o600)
        if let tls {
            if let key = tls.keyPEM { try writeText(key, to: tlsKeyFile, mode: 0o600) }
            try writeText(tls.certificatePEM, to: tlsCertificateFile, mode: 0o644)
        } else {
            unlink(tlsCertificateFile)
            unlink(tlsKeyFile)
        }
        try writeText("\(getpid())", to: headPIDFile, mode: 0o644)
        try writeText(address, to: headAddressFile, mode: 0o644)
    }

    /// Forgets the head address if this process recorded it.
    package func forgetHead() {
        guard Self.readText(headPIDFile) == "\(getpid())" else { return }
        unlink(headAddressFile)
        unlink(headPIDFile)
        unlink(tlsCertificateFile)
        unlink(tlsKeyFile)
    }
    /// The cluster's TLS certificate (clients trust it) and key, while a TLS head runs here.
    package var tlsCertificateFile: String { "\(root)/tls_cert.pem" }
    package var tlsKeyFile: String { "\(root)/tls_key.pem" }
    package var tokenFile: String { "\(root)/token" }
    package var daemonsFolder: String { "\(root)/daemons" }
    package var logsFolder: String { "\(root)/logs" }
    package var binariesFolder: String { "\(root)/binaries" }
    /// The head's dashboard URL, while it serves one.
    package var dashboardFile: String { "\(root)/dashboard_url" }

    /// Creates the folders (owner-only).
    package func create() throws {
        for folder in [root, daemonsFolder, logsFolder, binariesFolder] {
            guard mkdir(folder, 0o700) == 0 || errno == EEXIST else {
                throw ClusterError("cannot create \(folder): \(errnoText())")
            }
        }
    }

    package func binary(_ hash: String) -> String { "\(binariesFolder)/\(hash)" }

    /// Records a running daemon (removed when it stops).
    package func registerDaemon(pid: Int32, role: String) throws {
        try writeText("\(role)\n", to: "\(daemonsFolder)/\(pid)", mode: 0o600)
    }

    package func unregisterDaemon(pid: Int32) { unlink("\(daemonsFolder)/\(pid)") }

    /// The daemons recorded here that are still running.
    package func runningDaemons() -> [Int32] {
        ClusterFiles.entries(of: daemonsFolder).compactMap(Int32.init).filter(processIsRunning)
    }

    /// Reads a whole small file, without its trailing newline.
    package static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        return text
    }

    /// Writes a small file atomically (temporary file, then rename) with `mode`.
    package func writeText(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ClusterError("cannot write \(path): \(errnoText())") }
        var bytes = Array(text.utf8)
        let written = write(fd, &bytes, bytes.count)
        fchmod(fd, mode)
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ClusterError("cannot write \(path): \(errnoText())")
        }
    }

    static func entries(of folder: String) -> [String] { SharedObjectDirectory.entries(of: folder) }
}

/// A cluster problem with a message for the user: bad address, wrong token, unreachable head.
package struct ClusterError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// The cluster token: 32 random bytes as hex, generated by `start --head`.
package enum ClusterToken {
    package static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// The token to present: `explicit`, else `SWIFTRAY_TOKEN`, else the file named by
    /// `SWIFTRAY_TOKEN_FILE`, else this machine's token file.
    package static func resolve(_ explicit: String?, files: ClusterFiles) -> String? {
        if let explicit, !explicit.isEmpty { return explicit }
        if let value = getenvString("SWIFTRAY_TOKEN"), !value.isEmpty { return value }
        if let path = getenvString("SWIFTRAY_TOKEN_FILE") { return ClusterFiles.readText(path) }
        return ClusterFiles.readText(files.tokenFile)
    }

    /// The head's token: `explicit`, else `SWIFTRAY_TOKEN`, else a new random one.
    package static func resolveForHead(_ explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let value = getenvString("SWIFTRAY_TOKEN"), !value.isEmpty { return value }
        return generate()
    }

    /// Compares in time independent of where the strings differ.
    package static func matches(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8), b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// Addresses: `HOST:PORT`, or `"auto"` for the head started on this machine.
package enum ClusterAddress {
    /// `explicit`, else `SWIFTRAY_ADDRESS`; `"auto"` reads this machine's head address file.
    package static func resolve(_ explicit: String?, files: ClusterFiles) throws -> (host: String, port: Int) {
        let given = explicit ?? getenvString("SWIFTRAY_ADDRESS") ?? "auto"
        let address: String
        if given == "auto" {
            guard let recorded = ClusterFiles.readText(files.headAddressFile) else {
                throw ClusterError("no cluster is running on this machine (no \(files.headAddressFile)); start one with `swiftray start --head`")
            }
            address = recorded
        } else {
            address = given
        }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              port > 0, port < 65536 else {
            throw ClusterError("bad cluster address '\(address)': expected HOST:PORT")
        }
        return (String(address[..<colon]), port)
    }
}

/// Content hashes of executables, by which nodes cache them.
package enum BinaryHash {
    /// The size a hash names (its part after the last `-`; 0 if none).
    package static func size(of hash: String) -> Int { Int(hash.split(separator: "-").last ?? "") ?? 0 }

    /// A 64-bit multiply-xorshift hash of the file's words, with its size: `"<hex>-<size>"`.
    package static func of(file path: String) throws -> (hash: String, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ClusterError("cannot read \(path): \(errnoText())") }
        defer { close(fd) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var size = 0
        var buffer = [UInt64](repeating: 0, count: 1 << 17)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            let words = (count + 7) / 8
            if count % 8 != 0 {
                buffer.withUnsafeMutableBytes { raw in for index in count..<(words * 8) { raw[index] = 0 } }
            }
            for index in 0..<words {
                state = (state ^ buffer[index]) &* 0xBF58_476D_1CE4_E5B9
                state ^= state >> 31
            }
            size += count
        }
        return (String(state, radix: 16) + "-\(size)", size)
    }
}
