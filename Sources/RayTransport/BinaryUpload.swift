import Logging
import NIOCore
import RayWire
import RayPlatform

/// A job binary arriving in chunks: written to a temporary file, checked against its hash and size,
/// then renamed into the cache (executable). Also sends cached binaries in chunks.
package final class BinaryUpload {
    package let hash: String
    package let size: Int
    private let path: String
    private let temporary: String
    private var fd: Int32
    private var written = 0

    /// Chunks binaries travel in.
    package static let chunkSize = 4 << 20

    package init(hash: String, size: Int, path: String) throws {
        self.hash = hash
        self.size = size
        self.path = path
        temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).part"
        fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o700)
        guard fd >= 0 else { throw ClusterError("cannot create \(temporary): \(errnoText())") }
    }

    package func append(_ bytes: [UInt8]) throws {
        guard written + bytes.count <= size else { throw ClusterError("binary \(hash) is larger than announced") }
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw ClusterError("cannot write \(temporary): \(errnoText())") }
            done += count
        }
        written += done
    }

    /// Checks the received file and moves it into the cache.
    package func finish() throws {
        close(fd)
        fd = -1
        let received = try BinaryHash.of(file: temporary)
        guard received.hash == hash, received.size == size else {
            unlink(temporary)
            throw ClusterError("binary \(hash) arrived corrupted (hash \(received.hash))")
        }
        guard chmod(temporary, 0o755) == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ClusterError("cannot store binary \(path): \(errnoText())")
        }
    }

    package func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(temporary)
    }

    /// Sends the file at `path` as `binaryChunk`s (an empty last chunk if it cannot be read, which
    /// the receiver rejects by hash).
    package static func send(hash: String, from path: String, over channel: any Channel, logger: Logger) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            logger.error("cannot send binary \(hash): \(errnoText())")
            channel.writeAndFlush(WireMessage.control(.binaryChunk(hash: hash, bytes: [], last: true)), promise: nil)
            return
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            let last = count < chunkSize
            channel.write(WireMessage.control(.binaryChunk(hash: hash, bytes: Array(buffer.prefix(max(count, 0))), last: last)), promise: nil)
            if last { break }
        }
        channel.flush()
    }
}
