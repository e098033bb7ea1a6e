import Crypto
import Foundation

/// Seals what a TCP link carries between nodes (AES-256-GCM): the key is the receiving member's,
/// published with its address in the cluster's key-value store, which only processes the
/// cluster admitted (its token, its TLS) can read. So a link off the machine is private and
/// tamper-evident whether or not the cluster runs TLS, with no certificate per worker. Each link
/// carries data one way only, so a counter is a nonce that never repeats under its key.
final class LinkCipher: @unchecked Sendable {
    private let key: SymmetricKey
    private var counter: UInt64 = 0

    /// Bytes a sealed chunk adds: its length prefix and the tag.
    static let overhead = 4 + 16

    init(key: SymmetricKey) { self.key = key }

    /// A new random key, and its text form for the member's entry.
    static func newKey() -> (key: SymmetricKey, text: String) {
        let key = SymmetricKey(size: .bits256)
        return (key, key.withUnsafeBytes { Data($0).base64EncodedString() })
    }

    static func key(from text: String) -> SymmetricKey? {
        guard let data = Data(base64Encoded: text), data.count == 32 else { return nil }
        return SymmetricKey(data: data)
    }

    private func nextNonce() throws -> AES.GCM.Nonce {
        counter += 1
        var bytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: counter.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return try AES.GCM.Nonce(data: bytes)
    }

    /// `plain` as one frame: its sealed length (4 bytes) and ciphertext with tag.
    func seal(_ plain: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let box = try? AES.GCM.seal(plain, using: key, nonce: nextNonce()) else { return nil }
        var frame: [UInt8] = []
        frame.reserveCapacity(plain.count + Self.overhead)
        withUnsafeBytes(of: UInt32(plain.count + 16).littleEndian) { frame += $0 }
        frame += box.ciphertext
        frame += box.tag
        return frame
    }

    /// Reads one frame of `count` plain bytes from `socket` and opens it into `target`; false if
    /// the link broke or the frame is not this key's next one (tampered, replayed, foreign).
    func open(from socket: PeerSocket, into target: UnsafeMutableRawBufferPointer) -> Bool {
        guard let length = socket.read(UInt32.self), Int(length) == target.count + 16 else { return false }
        var sealed = [UInt8](repeating: 0, count: Int(length))
        guard sealed.withUnsafeMutableBytes({ socket.readAll($0) }),
              let nonce = try? nextNonce(),
              let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: sealed[0..<target.count], tag: sealed[target.count...]),
              let plain = try? AES.GCM.open(box, using: key), plain.count == target.count else { return false }
        plain.withUnsafeBytes { if let base = target.baseAddress, $0.count > 0 { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        return true
    }
}
