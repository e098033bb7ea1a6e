/// A 128-bit identifier for tasks and objects, unique without coordination: the high half names the
/// process that minted it, the low half counts.
public struct RayID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The minting process's random prefix.
    public let high: UInt64
    /// A per-process counter.
    public let low: UInt64

    /// Creates an identifier from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The identifier that names nothing (a task with no parent, for instance).
    public static let none = RayID(high: 0, low: 0)

    /// 32 hex digits, as Ray prints its identifiers.
    public var description: String {
        func padded(_ value: UInt64) -> String {
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }
        return padded(high) + padded(low)
    }
}

/// Identifies an object in the cluster: a task's return value or a `put`.
public typealias ObjectID = RayID
/// Identifies a task; its return object has the same identifier.
public typealias TaskID = RayID
