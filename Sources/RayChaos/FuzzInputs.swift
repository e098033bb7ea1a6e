import Dispatch
import NIOCore
import RayWire
import SwiftRay

/// The protocol a fuzzed port speaks, and what the fuzzer knows to get past its door.
public enum FuzzProtocol: Sendable, Equatable {
    /// Whether the port speaks HTTP.
    public var isHTTP: Bool { if case .http = self { true } else { false } }

    /// swift-ray frames (the head's and an embedded cluster's port, node object servers). With the
    /// token, some inputs authenticate first and fuzz what an authenticated peer may send.
    case frames(token: String?, role: FramePeer)
    /// HTTP/1.1 (the dashboard and its APIs, a node's health port), with the bearer token if needed.
    case http(token: String?)

    /// Which authenticated conversation a frame port holds.
    public enum FramePeer: Sendable, Equatable {
        /// A command-line client (status, state, logs, nodes): the head's and embedded cluster's port.
        case client
        /// An object puller: node object servers.
        case objects
    }
}

/// One input: what to send, and how to behave afterwards.
struct FuzzInput {
    /// Why it is shaped so (the report counts inputs by kind).
    var kind: String
    /// Writes, in order (a trickle is several).
    var writes: [[UInt8]]
    /// How long to read the answer before closing (most servers close on bad input at once).
    var listen: Duration = .milliseconds(3)
}

/// Mutations of valid bytes: flips, insertions, deletions, truncation, duplicated runs.
struct Mutator {
    var random: SeededRandom

    mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &random) }
    mutating func chance(_ p: Double) -> Bool { random.unit() < p }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
    mutating func pick<T>(_ values: [T]) -> T { values[int(0..<values.count)] }

    /// `bytes` with 1 to 4 random edits, never touching the first `keep` bytes.
    mutating func mutate(_ bytes: [UInt8], keep: Int = 0) -> [UInt8] {
        var out = bytes
        for _ in 0..<int(1..<5) where out.count > keep {
            let at = int(keep..<out.count)
            switch int(0..<6) {
            case 0: out[at] ^= UInt8(1 << int(0..<8))
            case 1: out[at] = UInt8.random(in: 0...255, using: &random)
            case 2: out.insert(contentsOf: self.bytes(int(1..<9)), at: at)
            case 3: out.removeSubrange(at..<min(out.count, at + int(1..<9)))
            case 4: out[at] = pick([0x00, 0xFF, 0x7F, 0x80])
            default: out.insert(contentsOf: out[at..<min(out.count, at + int(1..<64))], at: at)
            }
        }
        return out
    }
}

/// Inputs for a port speaking swift-ray frames.
struct FrameInputs {
    let token: String?
    let role: FuzzProtocol.FramePeer

    /// Valid messages an authenticated peer of `role` may send.
    private func authenticatedCorpus(_ m: inout Mutator) -> [WireMessage] {
        switch role {
        case .client:
            return [
                .control(.statusRequest), .control(.stateRequest(requestID: UInt64(m.int(0..<1000)))),
                .control(.nodesRequest(requestID: 7)), .control(.autoscalingViewRequest(requestID: 9)),
                .control(.logsRequest(requestID: 3, LogsQuery(pid: Int32(m.int(-5..<70000)), tail: m.int(-10..<100_000)))),
                .control(.logsRequest(requestID: 4, LogsQuery(actor: "a", offset: m.int(-1000..<1 << 40)))),
                .control(.logsRequest(requestID: 5, LogsQuery(task: String(repeating: "f", count: m.int(0..<64))))),
                .control(.heartbeat),
            ]
        case .objects:
            let id = RayID(high: UInt64(m.int(0..<4)), low: UInt64(m.int(0..<1 << 30)))
            return [.pullObject(id, size: UInt64(m.pick([0, 1, 4096, 1 << 20, 1 << 40, Int(Int64.max)])))]
        }
    }

    private func hello(_ token: String, _ m: inout Mutator) -> WireMessage {
        let role: PeerRole = switch role {
        case .client: .client
        case .objects: .objects
        }
        return .control(.hello(Hello(token: token, role: role, pid: Int32(m.int(1..<100_000)), host: "fuzz")))
    }

    /// Any valid message (before a hello every one is out of order).
    private func anyMessage(_ m: inout Mutator) -> WireMessage {
        let id = RayID(high: UInt64(m.int(0..<1 << 20)), low: UInt64(m.int(0..<1 << 20)))
        return m.pick([
            .register(pid: Int32(m.int(0..<1 << 20))), .addRefs([id]), .releaseRefs([id, id]), .shutdown,
            .get(requestID: 1, caller: id, ids: [id], timeoutMillis: Int64(m.int(-1..<1000))), .killActor(id, noRestart: true),
            .control(.hello(Hello(token: "", role: .driver, pid: 1, host: ""))), .control(.heartbeat),
            .control(.kv(requestID: 2, .get(namespace: "", key: "k"))), .objectChunk(id, offset: 0, data: ByteBuffer(bytes: m.bytes(16))),
        ] + authenticatedCorpus(&m))
    }

    private static func bytes(_ message: WireMessage) -> [UInt8] {
        var frame = message.framed()
        return frame.readBytes(length: frame.readableBytes) ?? []
    }

    mutating func next(_ m: inout Mutator) -> FuzzInput {
        switch m.int(0..<10) {
        case 0: return FuzzInput(kind: "random bytes", writes: [m.bytes(m.int(1..<600))])
        case 1:
            // A length over every limit, or a tiny one, with a little body.
            let length = m.pick([UInt32(16 << 10) + 1, 1 << 30, UInt32.max, 0, 1, UInt32(m.int(2..<64))])
            return FuzzInput(kind: "bad length", writes: [withUnsafeBytes(of: length.bigEndian) { Array($0) } + m.bytes(m.int(0..<64))])
        case 2:
            let frame = Self.bytes(anyMessage(&m))
            return FuzzInput(kind: "truncated frame", writes: [Array(frame.prefix(m.int(1..<frame.count)))])
        case 3:
            var frame = Self.bytes(anyMessage(&m))
            frame[m.int(4..<6)] = UInt8(m.int(0..<256))  // version or type byte
            return FuzzInput(kind: "wrong version or type", writes: [frame])
        case 4:
            let token = m.pick(["", "x", String(repeating: "A", count: 2000), m.mutate(Array((token ?? "t").utf8)).map { String(UnicodeScalar($0)) }.joined()])
            return FuzzInput(kind: "wrong token", writes: [Self.bytes(.control(.hello(Hello(token: token, role: m.pick([.driver, .client, .objects, .worker(id: 1)]), pid: 1, host: "h"))))])
        case 5:
            return FuzzInput(kind: "foreign protocol", writes: [Array(m.pick(["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "SSH-2.0-OpenSSH_9.6\r\n", "\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]).utf8)])
        case 6:
            return FuzzInput(kind: "trickled frame", writes: Self.bytes(anyMessage(&m)).prefix(m.int(1..<12)).map { [$0] })
        default:  // 7, 8, 9
            guard let token else { return FuzzInput(kind: "mutated frame", writes: [m.mutate(Self.bytes(anyMessage(&m)))]) }
            // Authenticated: a hello with the token, then valid and mutated requests.
            var writes = [Self.bytes(hello(token, &m))]
            for _ in 0..<m.int(1..<12) {
                let frame = Self.bytes(m.pick(authenticatedCorpus(&m)))
                writes.append(m.chance(0.5) ? frame : m.mutate(frame, keep: 4))
            }
            return FuzzInput(kind: "authenticated requests", writes: [writes.flatMap { $0 }], listen: .milliseconds(20))
        }
    }
}

/// Inputs for an HTTP port. Job submissions are always cut before their JSON ends: the fuzzer
/// must not start real entrypoints.
struct HTTPInputs {
    let token: String?
    let paths: [String]

    private func request(_ method: String, _ path: String, body: [UInt8] = [], headers: [String] = []) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for header in headers { head += header + "\r\n" }
        if !body.isEmpty { head += "Content-Length: \(body.count)\r\nContent-Type: application/json\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    mutating func next(_ m: inout Mutator) -> FuzzInput {
        let path = m.pick(paths) + m.pick(["", "?state=RUNNING", "?pid=-1", "?tail=99999999999999999999", "?limit=abc&offset=-5", "/../../etc/passwd", "/%00%ff", "?" + String(repeating: "a=1&", count: 300)])
        switch m.int(0..<10) {
        case 0: return FuzzInput(kind: "random bytes", writes: [m.bytes(m.int(1..<600))])
        case 1: return FuzzInput(kind: "valid request", writes: [request(m.pick(["GET", "HEAD", "OPTIONS", "DELETE"]), path)], listen: .milliseconds(20))
        case 2, 3: return FuzzInput(kind: "mutated request", writes: [m.mutate(request(m.pick(["GET", "POST", "PUT"]), path, body: m.chance(0.5) ? Array(#"{"a":[1,2,{"b":null}]}"#.utf8) : []))])
        case 4:
            let big = String(repeating: "x", count: m.pick([9000, 40_000, 200_000]))
            return FuzzInput(kind: "oversized header", writes: [m.chance(0.5) ? request("GET", "/" + big) : request("GET", path, headers: ["X-Big: " + big])])
        case 5:
            let job = Array(#"{"entrypoint": "true", "runtime_env": {"env_vars": {"A": "1"}}, "metadata": {"k": "v"}}"#.utf8)
            let cut = m.mutate(Array(job.prefix(m.int(1..<job.count - 1))))
            return FuzzInput(kind: "unfinished json body", writes: [request(m.pick(["POST", "PUT"]), m.pick(["/api/jobs/", "/api/serve/applications/"]), body: cut)])
        case 6: return FuzzInput(kind: "bad framing", writes: [request("POST", path, headers: [m.pick(["Transfer-Encoding: chunked", "Content-Length: 99999999", "Content-Length: -1", "Content-Length: 1, 2", "Transfer-Encoding: gzip, chunked"])]) + Array(m.pick(["zz\r\nabc\r\n", "5\r\nab", "", "0\r\n\r\nGET / HTTP/1.1\r\n\r\n"]).utf8)])
        case 7:
            let full = request("GET", path)
            return FuzzInput(kind: "trickled request", writes: full.prefix(m.int(1..<16)).map { [$0] })
        case 8: return FuzzInput(kind: "websocket upgrade", writes: [request("GET", m.pick(["/api/jobs/x/logs/tail", path]), headers: ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: " + m.pick(["13", "8", ""]), "Sec-WebSocket-Key: " + String(m.bytes(8).map { Character(UnicodeScalar(65 + $0 % 26)) })]) + m.bytes(m.int(0..<40))])
        default:
            // Pipelined requests nobody reads.
            return FuzzInput(kind: "pipelined unread", writes: [(0..<m.int(2..<40)).flatMap { _ in request("GET", path) }], listen: .zero)
        }
    }
}

extension FuzzProtocol {
    /// A hello with `token` as a command-line client, then `count` state requests: what a slow
    /// reader sends before it stops reading.
    public static func clientRequests(token: String, count: Int) -> [UInt8] {
        let hello = WireMessage.control(.hello(Hello(token: token, role: .client, pid: 1, host: "fuzz")))
        let messages = [hello] + Array(repeating: WireMessage.control(.stateRequest(requestID: 1)), count: count)
        return messages.flatMap { message in
            var frame = message.framed()
            return frame.readBytes(length: frame.readableBytes) ?? []
        }
    }

    /// `count` pipelined `GET path` requests (with the bearer token if given).
    public static func httpRequests(path: String, token: String?, count: Int) -> [UInt8] {
        let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        return Array(String(repeating: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(auth)\r\n", count: count).utf8)
    }
}

extension FuzzProtocol {
    /// What a port of a cluster speaks: `clusterPort` speaks frames to clients; of the others, a
    /// port that answers `GET /` with HTTP is an HTTP port, the rest are object servers.
    public static func guess(_ port: UInt16, clusterPort: UInt16, token: String) -> FuzzProtocol {
        if port == clusterPort { return .frames(token: token, role: .client) }
        return answersHTTP(port) ? .http(token: nil) : .frames(token: token, role: .objects)
    }

    private static func answersHTTP(_ port: UInt16) -> Bool {
        guard let connection = RawConnection(port: port) else { return false }
        let sent = connection.send(Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        let answer = sent ? connection.read(upTo: 5, within: .seconds(3)) : []
        connection.abort()
        return answer == Array("HTTP/".utf8)
    }

    /// Runs blocking socket work on a GCD thread, off Swift's cooperative pool.
    public static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }
}
