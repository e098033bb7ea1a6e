import Crypto
import Foundation
import Logging
import SwiftRay

/// Where a member listens, published in the cluster's key-value store (namespace
/// `_swiftray_collective`, key `<group>/<rank>`, JSON). Only processes the cluster admitted (its token,
/// TLS) can read it, so the secret a peer must present proves it is one of them.
struct MemberEntry: Codable, Sendable {
    var hosts: [String]
    var port: Int
    var nodeID: String
    var machine: String
    var secret: String
    var pid: Int32
    /// The key sealing a link from another node to this member (`LinkCipher`).
    var key: String
}

/// The first message on a new link, from the sending member to the receiving one.
struct LinkHello: Codable, Sendable {
    var group: String
    var fromRank: Int
    var worldSize: Int
    var secret: String
    /// The sender's shared outbox when both are on one node.
    var sharedPath: String?
    var slotBytes: Int
}

struct LinkReply: Codable, Sendable {
    var accepted: Bool
    var shared: Bool
    var problem: String?
}

/// How a member finds and connects its two neighbours. Links within a node go through shared
/// memory; links between nodes are TCP sealed with the receiver's key (`LinkCipher`).
struct Rendezvous: Sendable {
    let group: String
    let rank: Int
    let size: Int
    let chunkBytes: Int
    let deadline: Double

    static let namespace = "_swiftray_collective"
    static let logger = Logger(label: "swiftray.collective")

    var next: Int { (rank + 1) % size }
    var previous: Int { (rank + size - 1) % size }

    /// Publishes this member, then connects to the next rank while accepting the previous one.
    func connect() async throws -> RingLinks {
        guard size > 1 else { return RingLinks(group: group, outgoing: nil, incoming: nil) }
        let (listener, port) = try PeerSocket.listen()
        let secret = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        let nodeID = ray.runtimeContext.nodeID
        let (linkKey, keyText) = LinkCipher.newKey()
        let entry = MemberEntry(
            hosts: PeerSocket.localAddresses(), port: port, nodeID: nodeID, machine: ProcessInfo.processInfo.hostName,
            secret: secret, pid: getpid(), key: keyText)
        _ = try await ray.kv.put(key(rank), Array(try JSONEncoder().encode(entry)), namespace: Self.namespace)
        let accepting = Task.detached { [self] in try await blocking { try accept(on: listener, secret: secret, key: linkKey) } }
        do {
            let outgoing = try await dial(nodeID: nodeID)
            let incoming = try await accepting.value
            _ = try? await ray.kv.delete(key(rank), namespace: Self.namespace)
            return RingLinks(group: group, outgoing: outgoing, incoming: incoming)
        } catch {
            listener.shutdown()
            _ = try? await accepting.value
            _ = try? await ray.kv.delete(key(rank), namespace: Self.namespace)
            throw error
        }
    }

    private func key(_ rank: Int) -> String { "\(group)/\(rank)" }

    /// Connects to the next rank: reads its entry (waiting for it to appear or to be replaced when
    /// a stale one from a dead member refuses), presents its secret, and offers shared memory when
    /// it is on this node.
    private func dial(nodeID: String) async throws -> OutgoingLink {
        var pause = 0.001
        while PeerSocket.now() < deadline {
            if let bytes = try await ray.kv.get(key(next), namespace: Self.namespace),
               let entry = try? JSONDecoder().decode(MemberEntry.self, from: Data(bytes)),
               let link = try await blocking({ try offer(to: entry, nodeID: nodeID) }) {
                return link
            }
            try await Task.sleep(for: .seconds(pause))
            pause = min(pause * 2, 0.05)
        }
        throw CollectiveError.rendezvousTimeout(group: group, missing: [next])
    }

    private func offer(to entry: MemberEntry, nodeID: String) throws(CollectiveError) -> OutgoingLink? {
        let local = entry.machine == ProcessInfo.processInfo.hostName
        let hosts = local ? ["127.0.0.1"] + entry.hosts.filter { $0 != "127.0.0.1" } : entry.hosts
        var connected: PeerSocket?
        for host in hosts where connected == nil { connected = PeerSocket.connect(host: host, port: entry.port) }
        guard let socket = connected else { return nil }
        let outboxBytes = SharedOutbox.size(slotBytes: chunkBytes)
        let outbox = entry.nodeID == nodeID ? try SharedRegion.create(size: outboxBytes) : nil
        defer { outbox?.unlinkFile() }
        let hello = LinkHello(
            group: group, fromRank: rank, worldSize: size, secret: entry.secret, sharedPath: outbox?.path, slotBytes: chunkBytes)
        socket.setReceiveTimeout(10)
        guard socket.writeJSON(hello),
              let bytes = socket.readMessage(), let reply = try? JSONDecoder().decode(LinkReply.self, from: Data(bytes)) else { return nil }
        guard reply.accepted else {
            Self.logger.warning("collective \(group): rank \(next) refused rank \(rank): \(reply.problem ?? "")")
            return nil
        }
        socket.setReceiveTimeout(0)
        if reply.shared { return OutgoingLink(socket: socket, peer: next, outbox: outbox, cipher: nil, slotBytes: chunkBytes) }
        guard let key = LinkCipher.key(from: entry.key) else { return nil }
        return OutgoingLink(socket: socket, peer: next, outbox: nil, cipher: LinkCipher(key: key), slotBytes: chunkBytes)
    }

    /// Accepts the previous rank's link; strangers and malformed hellos are logged, answered and
    /// dropped, and the wait goes on.
    private func accept(on listener: PeerSocket, secret: String, key: SymmetricKey) throws(CollectiveError) -> IncomingLink {
        while let socket = try listener.accept(until: deadline) {
            socket.setReceiveTimeout(5)
            guard let bytes = socket.readMessage(), let hello = try? JSONDecoder().decode(LinkHello.self, from: Data(bytes)) else {
                Self.logger.warning("collective \(group): dropped a connection that sent no valid hello")
                continue
            }
            if let problem = problem(with: hello, secret: secret) {
                Self.logger.warning("collective \(group): refused a link: \(problem)")
                _ = socket.writeJSON(LinkReply(accepted: false, shared: false, problem: problem))
                continue
            }
            let inbox = hello.sharedPath.flatMap { SharedRegion.open($0, size: SharedOutbox.size(slotBytes: hello.slotBytes)) }
            let reply = LinkReply(accepted: true, shared: inbox != nil, problem: nil)
            guard socket.writeJSON(reply) else { continue }
            socket.setReceiveTimeout(0)
            return IncomingLink(socket: socket, peer: previous, inbox: inbox, cipher: inbox == nil ? LinkCipher(key: key) : nil, slotBytes: hello.slotBytes)
        }
        throw .rendezvousTimeout(group: group, missing: [previous])
    }

    private func problem(with hello: LinkHello, secret: String) -> String? {
        if hello.secret != secret { return "wrong secret" }
        if hello.group != group { return "group \(hello.group), expected \(group)" }
        if hello.worldSize != size { return "world size \(hello.worldSize), this member has \(size)" }
        if hello.fromRank != previous { return "rank \(hello.fromRank) is not the previous rank \(previous)" }
        if hello.slotBytes != chunkBytes { return "chunk size \(hello.slotBytes), this member uses \(chunkBytes)" }
        return nil
    }
}

/// Runs blocking work on a thread of its own, off the cooperative pool.
func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }.start()
    }
}

extension PeerSocket {
    /// A handshake message as length-prefixed JSON; false if it cannot be encoded or sent.
    func writeJSON(_ value: some Encodable) -> Bool {
        guard let data = try? JSONEncoder().encode(value) else { return false }
        return writeMessage(Array(data))
    }
}
