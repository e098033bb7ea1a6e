import Dispatch
import Synchronization
import SwiftRay

/// Structured fuzzing of one listening port: seeded inputs (random bytes, valid messages with
/// mutated fields, truncated, oversized and trickled frames or requests, wrong and missing tokens,
/// authenticated requests with mutated fields) sent on many connections at once. Input `i` of a
/// run is generated from `seed` and `i` alone, so any input a server chokes on can be replayed.
public struct PortFuzzer: Sendable {
    public let port: UInt16
    public let speaks: FuzzProtocol
    public let seed: UInt64
    /// Paths an HTTP port serves (mutated and sent with bad queries).
    public var paths = ["/", "/api/state", "/api/nodes", "/api/jobs/", "/api/serve/applications/", "/metrics", "/api/logs", "/api/timeline", "/api/version"]

    public init(port: UInt16, speaks: FuzzProtocol, seed: UInt64) {
        self.port = port
        self.speaks = speaks
        self.seed = seed
    }

    /// Input `index` of this fuzzer's sequence.
    func input(_ index: Int) -> FuzzInput {
        var mutator = Mutator(random: SeededRandom(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15)))
        switch speaks {
        case .frames(let token, let role):
            var inputs = FrameInputs(token: token, role: role)
            return inputs.next(&mutator)
        case .http(let token):
            var inputs = HTTPInputs(token: token, paths: paths)
            return inputs.next(&mutator)
        }
    }

    /// Sends `count` inputs over `connections` concurrent clients (each input on its own
    /// connection); blocks until done.
    public func run(_ count: Int, connections: Int = 8) -> FuzzReport {
        let report = Mutex(FuzzReport(port: port))
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: connections) { _ in
            var local = FuzzReport(port: port)
            while case let index = next.wrappingAdd(1, ordering: .relaxed).oldValue, index < count {
                local.add(send(input(index)))
            }
            report.withLock { $0.merge(local) }
        }
        return report.withLock { $0 }
    }

    private func send(_ input: FuzzInput) -> FuzzReport.Outcome {
        guard let connection = RawConnection(port: port) else { return .init(kind: input.kind, connected: false) }
        var accepted = true
        for write in input.writes where accepted {
            accepted = connection.send(write)
        }
        let answer = input.listen > .zero ? connection.drain(for: input.listen) : (bytes: 0, closed: false)
        connection.abort()
        return .init(kind: input.kind, connected: true, answered: answer.bytes > 0, closedByServer: answer.closed || !accepted)
    }
}

/// What a fuzz run sent and how the server took it.
public struct FuzzReport: Sendable, CustomStringConvertible {
    public let port: UInt16
    /// Inputs sent, in all and by kind.
    public private(set) var inputs = 0
    public private(set) var byKind: [String: Int] = [:]
    /// Connections the port refused or did not accept within the connect timeout.
    public private(set) var refused = 0
    /// Inputs the server answered, and those after which it closed the connection itself.
    public private(set) var answered = 0
    public private(set) var closedByServer = 0

    struct Outcome {
        var kind: String
        var connected: Bool
        var answered = false
        var closedByServer = false
    }

    init(port: UInt16) { self.port = port }

    mutating func add(_ outcome: Outcome) {
        inputs += 1
        byKind[outcome.kind, default: 0] += 1
        if !outcome.connected { refused += 1 }
        if outcome.answered { answered += 1 }
        if outcome.closedByServer { closedByServer += 1 }
    }

    mutating func merge(_ other: FuzzReport) {
        inputs += other.inputs
        byKind.merge(other.byKind, uniquingKeysWith: +)
        refused += other.refused
        answered += other.answered
        closedByServer += other.closedByServer
    }

    public var description: String {
        let kinds = byKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "port \(port): \(inputs) inputs (\(kinds)); \(answered) answered, \(closedByServer) closed by the server, \(refused) refused"
    }
}
