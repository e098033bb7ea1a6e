/// How `allreduce` and `reduceScatter` combine the members' buffers (Ray's `ReduceOp`).
public enum ReduceOp: String, Sendable, Codable, CaseIterable {
    case sum, mean, min, max

    /// The element-wise combination a ring step applies (`mean` sums; the quotient comes last).
    var combining: ReduceOp { self == .mean ? .sum : self }
}

/// An element type collectives move: `Float` and `Double`.
public protocol CollectiveElement: BinaryFloatingPoint, Sendable {
    /// The byte code a link header carries, so members calling with different types fail clearly.
    static var collectiveCode: UInt32 { get }
}

extension Float: CollectiveElement {
    public static var collectiveCode: UInt32 { 4 }
}

extension Double: CollectiveElement {
    public static var collectiveCode: UInt32 { 8 }
}

/// Why a collective failed. After any failure but `.invalidArgument`, the group is broken on every
/// member: each closes its links, so the failure travels around the ring instead of leaving a
/// member waiting for data that never comes.
public enum CollectiveError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A bad rank, size, root or buffer length; the group stays usable.
    case invalidArgument(String)
    /// The members did not all join within the timeout.
    case rendezvousTimeout(group: String, missing: [Int])
    /// A neighbour's link closed or broke mid-operation: it died, left, or failed itself.
    case memberFailed(group: String, rank: Int, reason: String)
    /// Members disagree on the operation, its element type or its length.
    case mismatch(group: String, detail: String)
    /// The group was destroyed or broke earlier.
    case groupClosed(String)
    /// A system call failed (sockets, shared memory).
    case system(String)

    public var description: String {
        switch self {
        case .invalidArgument(let text): "invalid collective argument: \(text)"
        case .rendezvousTimeout(let group, let missing): "collective group \(group): ranks \(missing) did not join in time"
        case .memberFailed(let group, let rank, let reason): "collective group \(group): the link with rank \(rank) failed (\(reason)): it died or left the group"
        case .mismatch(let group, let detail): "collective group \(group): members disagree: \(detail)"
        case .groupClosed(let group): "collective group \(group) is closed (destroyed, or broken by an earlier failure)"
        case .system(let text): "collective system call failed: \(text)"
        }
    }
}

/// Element-wise combination of raw buffers, one specialised loop per type and operation.
enum Reduction {
    static func apply<T: CollectiveElement>(_ op: ReduceOp, into target: UnsafeMutablePointer<T>, from source: UnsafePointer<T>, count: Int) {
        switch op.combining {
        case .sum: for i in 0..<count { target[i] += source[i] }
        case .min: for i in 0..<count where source[i] < target[i] { target[i] = source[i] }
        case .max: for i in 0..<count where source[i] > target[i] { target[i] = source[i] }
        case .mean: fatalError("unreachable: mean combines as sum")
        }
    }

    /// The same over untyped bytes, dispatched by element code (what links hand over).
    static func apply(_ op: ReduceOp, code: UInt32, into target: UnsafeMutableRawPointer, from source: UnsafeRawPointer, bytes: Int) {
        if code == Double.collectiveCode {
            apply(op, into: target.assumingMemoryBound(to: Double.self), from: source.assumingMemoryBound(to: Double.self), count: bytes / 8)
        } else {
            apply(op, into: target.assumingMemoryBound(to: Float.self), from: source.assumingMemoryBound(to: Float.self), count: bytes / 4)
        }
    }
}
