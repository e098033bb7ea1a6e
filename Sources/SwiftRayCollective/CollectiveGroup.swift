import Foundation
import Synchronization

/// A named group of processes (tasks or actors) with ranks `0..<worldSize` that exchange buffers
/// collectively, Ray's `ray.util.collective`: every member calls the same operations in the same
/// order. Data moves around a ring over direct links between members, never through the object
/// store: through shared memory between members on one node, over TCP between nodes, in chunks
/// pipelined so each link is busy in both directions.
///
/// ```swift
/// let group = try await CollectiveGroup.join("grads", rank: rank, worldSize: 2)
/// try await group.allreduce(&gradients, op: .mean)
/// ```
///
/// A member that dies fails the operation in progress (or the next one) on every member with
/// `CollectiveError.memberFailed`; the group is then closed everywhere and a new one must be
/// joined. Operations on one group run one at a time.
public final class CollectiveGroup: Sendable {
    /// The group's name: unique among the cluster's live groups.
    public let name: String
    /// This member's rank.
    public let rank: Int
    /// How many members the group has.
    public let worldSize: Int
    /// The largest piece a link moves at once (and the size of each shared-memory slot).
    public let chunkBytes: Int

    private let links: RingLinks
    private let threads = RingThreads()
    private let state = Mutex(State())

    private struct State {
        var sequence: UInt64 = 0
        var busy = false
        var closed: CollectiveError?
    }

    private init(name: String, rank: Int, worldSize: Int, chunkBytes: Int, links: RingLinks) {
        self.name = name
        self.rank = rank
        self.worldSize = worldSize
        self.chunkBytes = chunkBytes
        self.links = links
    }

    /// Joins the group `name` as `rank` (Ray's `init_collective_group`): returns once this member
    /// is linked to its two neighbours. Every member calls it with the same `worldSize`.
    /// - Throws: `CollectiveError.invalidArgument` for a bad rank or size,
    ///   `.rendezvousTimeout` when a neighbour does not join within `timeout`.
    public static func join(
        _ name: String, rank: Int, worldSize: Int, timeout: Duration = .seconds(60), chunkBytes: Int = 1 << 20
    ) async throws -> CollectiveGroup {
        guard worldSize >= 1, (0..<worldSize).contains(rank) else {
            throw CollectiveError.invalidArgument("rank \(rank) of a group of \(worldSize)")
        }
        guard !name.isEmpty, !name.contains("/"), chunkBytes >= 64, chunkBytes % 8 == 0 else {
            throw CollectiveError.invalidArgument("group name \"\(name)\" (non-empty, no '/'), chunk size \(chunkBytes) (a multiple of 8, at least 64)")
        }
        let deadline = PeerSocket.now() + Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let rendezvous = Rendezvous(group: name, rank: rank, size: worldSize, chunkBytes: chunkBytes, deadline: deadline)
        let group = CollectiveGroup(name: name, rank: rank, worldSize: worldSize, chunkBytes: chunkBytes, links: try await rendezvous.connect())
        CollectiveRegistry.groups.withLock { $0[name] = group }
        return group
    }

    /// How this member's links move data: shared memory (same node) or TCP, per direction.
    public var transports: (toNext: LinkTransport?, fromPrevious: LinkTransport?) {
        (links.outgoing.map { $0.isShared ? .sharedMemory : .sealedTCP }, links.incoming.map { $0.isShared ? .sharedMemory : .sealedTCP })
    }

    /// Whether the group is closed (destroyed, or broken by a failure).
    public var isClosed: Bool { state.withLock { $0.closed != nil } }

    /// Closes the links (Ray's `destroy_collective_group`); members still inside an operation
    /// with this one fail with `.memberFailed`.
    public func destroy() {
        state.withLock { if $0.closed == nil { $0.closed = .groupClosed(name) } }
        links.shutdown()
        threads.close()
        CollectiveRegistry.groups.withLock { if $0[name] === self { $0[name] = nil } }
    }

    deinit {
        links.shutdown()
        threads.close()
    }

    // MARK: Operations

    /// Combines every member's `buffer` element-wise and leaves the result in each (Ray's
    /// `allreduce`). All members pass buffers of one length; `.mean` divides the sum by the size.
    /// The result is bit-identical on every member.
    public func allreduce<T: CollectiveElement>(_ buffer: inout [T], op: ReduceOp = .sum) async throws {
        let count = buffer.count
        try await run(.allreduce, &buffer, op: op) { [worldSize, rank, chunkBytes] in
            RingSchedule.ring(
                elements: count, elementSize: MemoryLayout<T>.stride, rank: rank, size: worldSize, chunkBytes: chunkBytes,
                steps: 2 * (worldSize - 1), shift: 1, combiningSteps: worldSize - 1)
        }
        if op == .mean { Self.divide(&buffer, by: worldSize) }
    }

    /// Each member's `buffer` combined, and only this member's share returned (Ray's
    /// `reducescatter`): the buffer is split into `worldSize` near-equal parts (the first
    /// `count % worldSize` one element longer) and rank r gets part r.
    public func reduceScatter<T: CollectiveElement>(_ buffer: [T], op: ReduceOp = .sum) async throws -> [T] {
        var working = buffer
        let count = buffer.count
        try await run(.reduceScatter, &working, op: op) { [worldSize, rank, chunkBytes] in
            RingSchedule.ring(
                elements: count, elementSize: MemoryLayout<T>.stride, rank: rank, size: worldSize, chunkBytes: chunkBytes,
                steps: worldSize - 1, shift: 1, combiningSteps: worldSize - 1)
        }
        var part = Array(working[RingSchedule.segments(elements: count, parts: worldSize)[rank]])
        if op == .mean { Self.divide(&part, by: worldSize) }
        return part
    }

    /// Every member's `buffer`, indexed by rank (Ray's `allgather`). Buffers must have one length.
    public func allgather<T: CollectiveElement>(_ buffer: [T]) async throws -> [[T]] {
        let count = buffer.count
        var gathered = [T](repeating: 0, count: count * worldSize)
        gathered.replaceSubrange(rank * count..<(rank + 1) * count, with: buffer)
        try await run(.allgather, &gathered, op: .sum) { [worldSize, rank, chunkBytes] in
            RingSchedule.ring(
                elements: count * worldSize, elementSize: MemoryLayout<T>.stride, rank: rank, size: worldSize,
                chunkBytes: chunkBytes, steps: worldSize - 1, shift: 0, combiningSteps: 0)
        }
        return (0..<worldSize).map { Array(gathered[$0 * count..<($0 + 1) * count]) }
    }

    /// Root's `buffer` copied into every member's (Ray's `broadcast`); others' buffers must
    /// already have the root's length.
    public func broadcast<T: CollectiveElement>(_ buffer: inout [T], from root: Int) async throws {
        guard (0..<worldSize).contains(root) else { throw CollectiveError.invalidArgument("root \(root) of a group of \(worldSize)") }
        let count = buffer.count
        try await run(.broadcast, &buffer, op: .sum) { [worldSize, rank, chunkBytes] in
            RingSchedule.chain(elements: count, elementSize: MemoryLayout<T>.stride, rank: rank, size: worldSize, root: root, chunkBytes: chunkBytes)
        }
    }

    /// Returns once every member has called it (Ray's `barrier`).
    public func barrier() async throws {
        var token = [Double](repeating: 0, count: worldSize)
        try await allreduce(&token)
    }

    /// Divides in place, by a loop specialised for the concrete type (the callers are generic).
    private static func divide<T: CollectiveElement>(_ buffer: inout [T], by size: Int) {
        guard size > 1 else { return }
        buffer.withUnsafeMutableBytes { bytes in
            if T.self == Double.self {
                let values = bytes.bindMemory(to: Double.self)
                for index in values.indices { values[index] /= Double(size) }
            } else {
                let values = bytes.bindMemory(to: Float.self)
                for index in values.indices { values[index] /= Float(size) }
            }
        }
    }

    // MARK: Running one operation

    /// Operations up to this size run on the caller's thread when every link is shared memory:
    /// a few microseconds when the members arrive together, at the price of holding that thread
    /// (spinning, then sleeping) while a late member catches up.
    static let inlineBytes = 256 << 10

    enum Operation: UInt32 {
        case allreduce = 1, allgather, broadcast, reduceScatter

        var label: String { "\(self)" }
    }

    private func run<T: CollectiveElement>(
        _ operation: Operation, _ buffer: inout [T], op: ReduceOp, schedule: @Sendable () -> RingSchedule
    ) async throws {
        let sequence = try begin()
        defer { state.withLock { $0.busy = false } }
        guard worldSize > 1 else { return }
        let header = OperationHeader(
            sequence: sequence, operation: operation.rawValue, elementCode: T.collectiveCode, elements: UInt64(buffer.count))
        let box = BufferBox(buffer)
        buffer = []
        defer { buffer = box.values }
        let plan = schedule()
        let bytes = buffer.count * MemoryLayout<T>.stride
        let combine: @Sendable (UnsafeMutableRawPointer, UnsafeRawPointer, Int) -> Void = {
            Reduction.apply(op, code: T.collectiveCode, into: $0, from: $1, bytes: $2)
        }
        let failure: CollectiveError?
        if links.allShared, bytes <= Self.inlineBytes {
            // Small and through shared memory: run right here, a few microseconds with no hand-off.
            failure = box.values.withUnsafeMutableBytes { bytes in
                RingRun(plan, buffer: bytes.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!, header: header, links: links,
                        combine: combine, describe: Self.describe).executeInterleaved()
            }
        } else {
            failure = await threads.run { [links, threads] in
                box.values.withUnsafeMutableBytes { bytes in
                    let run = RingRun(plan, buffer: bytes.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!, header: header, links: links,
                                      combine: combine, describe: Self.describe)
                    return links.allShared ? run.executeInterleaved() : run.execute(on: threads)
                }
            }
        }
        if let failure {
            state.withLock { if $0.closed == nil { $0.closed = failure } }
            links.shutdown()
            Rendezvous.logger.error("\(failure)")
            throw failure
        }
    }

    /// The next sequence number, or why no operation may start.
    private func begin() throws -> UInt64 {
        try state.withLock { state in
            if state.closed != nil { throw CollectiveError.groupClosed(name) }
            guard !state.busy else {
                throw CollectiveError.invalidArgument("group \(name) is already running an operation: call them one at a time")
            }
            state.busy = true
            state.sequence += 1
            return state.sequence
        }
    }

    private static func describe(_ header: OperationHeader) -> String {
        let operation = Operation(rawValue: header.operation)?.label ?? "operation \(header.operation)"
        let type = header.elementCode == 8 ? "Double" : header.elementCode == 4 ? "Float" : "type \(header.elementCode)"
        return "\(operation) #\(header.sequence) of \(header.elements) \(type)"
    }
}

/// How a link moves bytes.
public enum LinkTransport: String, Sendable {
    /// Slots in a shared-memory file (members on one node).
    case sharedMemory
    /// TCP, every chunk sealed with AES-256-GCM under the receiver's key (members on two nodes).
    case sealedTCP
}

/// Holds a buffer while a blocking thread works on it.
private final class BufferBox<T>: @unchecked Sendable {
    var values: [T]
    init(_ values: [T]) { self.values = values }
}

/// The groups this process joined, by name (what `Collective`'s by-name calls use).
enum CollectiveRegistry {
    static let groups = Mutex<[String: CollectiveGroup]>([:])
}

/// Ray's module-level collective calls, by group name, for code that joined a group elsewhere in
/// this process.
public enum Collective {
    /// Joins `name` as `rank` (Ray's `init_collective_group`).
    @discardableResult
    public static func initGroup(worldSize: Int, rank: Int, name: String = "default", timeout: Duration = .seconds(60)) async throws -> CollectiveGroup {
        try await CollectiveGroup.join(name, rank: rank, worldSize: worldSize, timeout: timeout)
    }

    /// The group this process joined as `name`.
    public static func group(_ name: String = "default") throws -> CollectiveGroup {
        guard let group = CollectiveRegistry.groups.withLock({ $0[name] }) else {
            throw CollectiveError.invalidArgument("this process has not joined collective group \(name)")
        }
        return group
    }

    public static func allreduce<T: CollectiveElement>(_ buffer: inout [T], group name: String = "default", op: ReduceOp = .sum) async throws {
        try await group(name).allreduce(&buffer, op: op)
    }

    public static func barrier(group name: String = "default") async throws { try await group(name).barrier() }

    /// Destroys the group `name` in this process (Ray's `destroy_collective_group`).
    public static func destroyGroup(_ name: String = "default") {
        try? group(name).destroy()
    }
}
