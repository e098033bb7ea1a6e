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

    /// One word into the hasher: the halves mixed (the low half is a counter, the high one random
    /// per process), which halves the hashing work of the object table's lookups.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(high ^ (low &* 0x9E37_79B9_7F4A_7C15))
    }

    /// What `Dictionary` and `Set` hash with: a multiply-xorshift mix of the halves and the table's
    /// seed instead of a full SipHash round per lookup (the node manager looks ids up several times
    /// per task and actor call).
    public func _rawHashValue(seed: Int) -> Int {
        var mixed = high ^ (low &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(bitPattern: Int64(seed))
        mixed ^= mixed >> 31
        mixed &*= 0xD6E8_FEB8_6659_FD93
        mixed ^= mixed >> 32
        return Int(truncatingIfNeeded: mixed)
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

    /// The identifier `description` printed (32 hex digits); nil for anything else.
    public init?(_ text: String) {
        guard text.utf8.count == 32, let high = UInt64(text.prefix(16), radix: 16), let low = UInt64(text.suffix(16), radix: 16) else { return nil }
        self.init(high: high, low: low)
    }
}

extension RayID {
    /// Encoded as its two halves, without key names: values can hold thousands of refs.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        high = try container.decode(UInt64.self)
        low = try container.decode(UInt64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(high)
        try container.encode(low)
    }
}

/// Identifies an object in the cluster: a task's return value or a `put`.
public typealias ObjectID = RayID
/// Identifies a task; its return object has the same identifier.
public typealias TaskID = RayID

extension RayID {
    /// Whether any identifier appears twice. An open-addressing table on the identifiers' own bits:
    /// `wait` checks this on every call, over up to thousands of refs.
    public static func containsDuplicates(_ ids: [RayID]) -> Bool {
        guard ids.count > 1 else { return false }
        var capacity = 4
        while capacity < ids.count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        var slots = [RayID](repeating: .none, count: capacity)
        for id in ids {
            var mixed = (id.low ^ id.high) &* 0x9E37_79B9_7F4A_7C15
            mixed ^= mixed >> 29
            var index = Int(truncatingIfNeeded: mixed) & mask
            while slots[index] != .none {
                if slots[index] == id { return true }
                index = (index + 1) & mask
            }
            if id == .none { continue }  // `.none` marks empty slots; a real ref is never `.none`
            slots[index] = id
        }
        return false
    }
}
