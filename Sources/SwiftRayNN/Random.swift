import Foundation

/// A small seeded generator (SplitMix64): the same seed gives the same weights and data on every
/// machine and in every process, which data-parallel workers and tests rely on.
public struct SplitMix64: RandomNumberGenerator, Sendable, Codable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `[low, high)`.
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) / Double(1 << 53)
    }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Double {
        let u = max(uniform(0, 1), .leastNonzeroMagnitude), v = uniform(0, 1)
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v)
    }
}
