import Foundation

/// A small seeded random number generator (SplitMix64): the same seed gives the same numbers on
/// every machine and in every process, which reproducible searches, data-parallel workers and
/// tests rely on.
public struct SeededRandom: RandomNumberGenerator, Sendable, Codable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Uniform in `[low, high)`.
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Double {
        let u = max(unit(), .leastNonzeroMagnitude), v = unit()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v)
    }
}
