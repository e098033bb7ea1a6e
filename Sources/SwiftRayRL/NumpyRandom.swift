/// NumPy's `SeedSequence`: turns a seed into well-mixed state words (O'Neill's seed_seq hashing,
/// as `numpy.random.SeedSequence` does it), so a seed means the same stream here as in gymnasium.
public struct SeedSequence: Sendable {
    private var pool: [UInt32]

    private static let initA: UInt32 = 0x43b0_d7e5, multA: UInt32 = 0x931e_8875
    private static let initB: UInt32 = 0x8b51_f9dd, multB: UInt32 = 0x58f3_8ded
    private static let mixMultL: UInt32 = 0xca01_f9dd, mixMultR: UInt32 = 0x4973_f715
    private static let poolSize = 4

    /// The sequence of a non-negative integer seed.
    public init(_ seed: UInt64) {
        var entropy: [UInt32] = [UInt32(truncatingIfNeeded: seed)]
        if seed >> 32 != 0 { entropy.append(UInt32(truncatingIfNeeded: seed >> 32)) }
        pool = [UInt32](repeating: 0, count: Self.poolSize)
        var hashConstant = Self.initA
        func hashmix(_ value: UInt32) -> UInt32 {
            var value = value ^ hashConstant
            hashConstant = hashConstant &* Self.multA
            value = value &* hashConstant
            return value ^ (value >> 16)
        }
        func mix(_ x: UInt32, _ y: UInt32) -> UInt32 {
            let result = Self.mixMultL &* x &- Self.mixMultR &* y
            return result ^ (result >> 16)
        }
        for index in 0..<Self.poolSize { pool[index] = hashmix(index < entropy.count ? entropy[index] : 0) }
        for source in 0..<Self.poolSize {
            for target in 0..<Self.poolSize where source != target { pool[target] = mix(pool[target], hashmix(pool[source])) }
        }
        for source in Self.poolSize..<max(entropy.count, Self.poolSize) {
            for target in 0..<Self.poolSize { pool[target] = mix(pool[target], hashmix(entropy[source])) }
        }
    }

    /// `count` 64-bit state words (`generate_state(count, np.uint64)`).
    public func generateState(_ count: Int) -> [UInt64] {
        var hashConstant = Self.initB
        let words = (0..<count * 2).map { index -> UInt32 in
            var value = pool[index % Self.poolSize] ^ hashConstant
            hashConstant = hashConstant &* Self.multB
            value = value &* hashConstant
            return value ^ (value >> 16)
        }
        return (0..<count).map { UInt64(words[2 * $0]) | UInt64(words[2 * $0 + 1]) << 32 }
    }
}

/// NumPy's default bit generator, PCG64 (a 128-bit LCG with the XSL-RR output), seeded as
/// `np.random.PCG64(SeedSequence(seed))`: `uniform` draws exactly what NumPy's `Generator.uniform`
/// draws, which is how gymnasium's environments pick their initial states.
public struct PCG64: RandomNumberGenerator, Sendable, Codable {
    private var stateHigh: UInt64
    private var stateLow: UInt64
    private let incrementHigh: UInt64
    private let incrementLow: UInt64

    private static let multiplier = UInt128(0x2360_ED05_1FC6_5DA4) << 64 | UInt128(0x4385_DF64_9FCC_F645)

    public init(seed: UInt64) {
        let words = SeedSequence(seed).generateState(4)
        let initialState = UInt128(words[0]) << 64 | UInt128(words[1])
        let increment = (UInt128(words[2]) << 64 | UInt128(words[3])) << 1 | 1
        incrementHigh = UInt64(truncatingIfNeeded: increment >> 64)
        incrementLow = UInt64(truncatingIfNeeded: increment)
        stateHigh = 0
        stateLow = 0
        advance()
        set(state &+ initialState)
        advance()
    }

    private var state: UInt128 { UInt128(stateHigh) << 64 | UInt128(stateLow) }
    private var increment: UInt128 { UInt128(incrementHigh) << 64 | UInt128(incrementLow) }

    private mutating func set(_ value: UInt128) {
        stateHigh = UInt64(truncatingIfNeeded: value >> 64)
        stateLow = UInt64(truncatingIfNeeded: value)
    }

    private mutating func advance() { set(state &* Self.multiplier &+ increment) }

    public mutating func next() -> UInt64 {
        advance()
        let folded = stateHigh ^ stateLow
        let rotation = stateHigh >> 58
        return folded >> rotation | folded << ((64 &- rotation) & 63)
    }

    /// A double in [0, 1) from 53 random bits, as NumPy's `next_double`.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// NumPy's `uniform(low, high)`: `low + (high - low) * nextDouble()`.
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextDouble() }
}
