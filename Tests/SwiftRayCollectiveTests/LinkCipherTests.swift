import Crypto
import Foundation
@testable import SwiftRayCollective
import XCTest

/// A link between nodes seals what it carries: nothing readable on the wire, and a changed,
/// replayed or foreign frame is refused.
final class LinkCipherTests: XCTestCase {
    /// Two connected sockets in this process.
    private func pair() throws -> (PeerSocket, PeerSocket) {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
        return (PeerSocket(fd: fds[0]), PeerSocket(fd: fds[1]))
    }

    func testSealedChunksCrossIntactAndUnreadable() throws {
        let key = LinkCipher.newKey().key
        let (a, b) = try pair()
        let sender = OutgoingLink(socket: a, peer: 1, outbox: nil, cipher: LinkCipher(key: key), slotBytes: 4096)
        let plain = Array(repeating: Array("gradient".utf8), count: 100).flatMap { $0 }
        XCTAssertTrue(plain.withUnsafeBytes { sender.send($0) })
        // What crossed the wire: the length, then ciphertext and tag; no trace of the plain text.
        var raw = [UInt8](repeating: 0, count: plain.count + LinkCipher.overhead)
        XCTAssertTrue(raw.withUnsafeMutableBytes { b.readAll($0) })
        XCTAssertNil(String(decoding: raw, as: UTF8.self).range(of: "gradient"))
        XCTAssertEqual(raw.count, plain.count + 20)

        // The same frame, read by the receiving side with the key, comes out whole.
        let (c, d) = try pair()
        XCTAssertTrue(raw.withUnsafeBytes { c.writeAll($0) })
        let receiver = IncomingLink(socket: d, peer: 0, inbox: nil, cipher: LinkCipher(key: key), slotBytes: 4096)
        var out = [UInt8](repeating: 0, count: plain.count)
        XCTAssertTrue(out.withUnsafeMutableBytes { receiver.receive(into: $0, combine: nil) })
        XCTAssertEqual(out, plain)
        // Replaying it fails: the receiver expects the next nonce.
        XCTAssertTrue(raw.withUnsafeBytes { c.writeAll($0) })
        XCTAssertFalse(out.withUnsafeMutableBytes { receiver.receive(into: $0, combine: nil) })
    }

    func testAChangedByteOrAnotherKeyIsRefused() throws {
        let key = LinkCipher.newKey().key
        let (a, b) = try pair()
        let sender = OutgoingLink(socket: a, peer: 1, outbox: nil, cipher: LinkCipher(key: key), slotBytes: 4096)
        let plain = [Double](repeating: 1.5, count: 64)
        XCTAssertTrue(plain.withUnsafeBytes { sender.send($0) })
        var raw = [UInt8](repeating: 0, count: 64 * 8 + LinkCipher.overhead)
        XCTAssertTrue(raw.withUnsafeMutableBytes { b.readAll($0) })
        for (tamper, receiverKey) in [(true, key), (false, LinkCipher.newKey().key)] {
            var frame = raw
            if tamper { frame[40] ^= 1 }
            let (c, d) = try pair()
            XCTAssertTrue(frame.withUnsafeBytes { c.writeAll($0) })
            let receiver = IncomingLink(socket: d, peer: 0, inbox: nil, cipher: LinkCipher(key: receiverKey), slotBytes: 4096)
            var out = [Double](repeating: 0, count: 64)
            XCTAssertFalse(out.withUnsafeMutableBytes { receiver.receive(into: $0, combine: nil) }, tamper ? "a changed byte" : "another key")
        }
    }
}
