/// What an environment observes or accepts (gymnasium's `spaces.Discrete` and `spaces.Box`).
public enum Space: Sendable, Codable, Equatable {
    /// The integers `0..<n`.
    case discrete(Int)
    /// Vectors of `Float` with per-dimension bounds (infinite bounds allowed).
    case box(low: [Float], high: [Float])

    /// How many numbers a value of this space has (1 for a discrete one).
    public var size: Int {
        switch self {
        case .discrete: 1
        case .box(let low, _): low.count
        }
    }

    /// Whether `action` belongs to the space.
    public func contains(_ action: Action) -> Bool {
        switch (self, action) {
        case (.discrete(let n), .discrete(let value)): (0..<n).contains(value)
        case (.box(let low, let high), .continuous(let values)):
            values.count == low.count && values.indices.allSatisfy { values[$0] >= low[$0] && values[$0] <= high[$0] }
        default: false
        }
    }

    /// A uniformly drawn action (bounded dimensions of a box only).
    public func sample(using random: inout some RandomNumberGenerator) -> Action {
        switch self {
        case .discrete(let n): return .discrete(Int.random(in: 0..<n, using: &random))
        case .box(let low, let high):
            return .continuous(low.indices.map { Float.random(in: low[$0]...high[$0], using: &random) })
        }
    }
}

/// An action: an index for a discrete space, a vector for a box.
public enum Action: Sendable, Codable, Equatable {
    case discrete(Int)
    case continuous([Float])
}
