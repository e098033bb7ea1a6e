/// What one step of a vector environment returned, one entry per copy.
public struct VectorStep: Sendable, Equatable {
    /// The next observations: after an episode ended, the new episode's first.
    public var observations: [[Float]]
    public var rewards: [Double]
    public var terminated: [Bool]
    public var truncated: [Bool]
    /// The last observation of each episode that ended on this step (nil for the others): what a
    /// learner bootstraps a truncated episode's value from.
    public var finalObservations: [[Float]?]
    /// Episodes that ended on this step: their return and length.
    public var finishedEpisodes: [(episodeReturn: Double, length: Int)]

    public static func == (lhs: VectorStep, rhs: VectorStep) -> Bool {
        lhs.observations == rhs.observations && lhs.rewards == rhs.rewards && lhs.terminated == rhs.terminated
            && lhs.truncated == rhs.truncated && lhs.finalObservations == rhs.finalObservations
            && lhs.finishedEpisodes.map(\.episodeReturn) == rhs.finishedEpisodes.map(\.episodeReturn)
            && lhs.finishedEpisodes.map(\.length) == rhs.finishedEpisodes.map(\.length)
    }
}

/// `count` time-limited copies of an environment stepped together (gymnasium's `SyncVectorEnv`),
/// each reset as soon as its episode ends, so every step returns an observation to act on.
public struct VectorEnvironment<E: Environment>: Sendable {
    public private(set) var environments: [TimeLimited<E>]
    private var returns: [Double]
    private var lengths: [Int]

    public init(count: Int) {
        precondition(count >= 1, "a vector environment needs at least one copy")
        environments = (0..<count).map { _ in TimeLimited<E>() }
        returns = Array(repeating: 0, count: count)
        lengths = Array(repeating: 0, count: count)
    }

    public var count: Int { environments.count }

    /// Resets every copy; with a seed, copy i is seeded `seed + i` (as gymnasium does).
    public mutating func reset(seed: UInt64? = nil) -> [[Float]] {
        returns = Array(repeating: 0, count: count)
        lengths = Array(repeating: 0, count: count)
        return environments.indices.map { index in environments[index].reset(seed: seed.map { $0 &+ UInt64(index) }).observation }
    }

    /// Steps copy i with `actions[i]`.
    /// - Throws: `EnvironmentError` (a wrong number of actions is `.invalidAction`).
    public mutating func step(_ actions: [Action]) throws -> VectorStep {
        guard actions.count == count else { throw EnvironmentError.invalidAction(actions.first ?? .discrete(-1), environments[0].environment.actionSpace) }
        var step = VectorStep(observations: [], rewards: [], terminated: [], truncated: [], finalObservations: [], finishedEpisodes: [])
        for index in environments.indices {
            let result = try environments[index].step(actions[index])
            returns[index] += result.reward
            lengths[index] += 1
            step.rewards.append(result.reward)
            step.terminated.append(result.terminated)
            step.truncated.append(result.truncated)
            if result.isDone {
                step.finishedEpisodes.append((returns[index], lengths[index]))
                returns[index] = 0
                lengths[index] = 0
                step.finalObservations.append(result.observation)
                step.observations.append(environments[index].reset(seed: nil).observation)
            } else {
                step.finalObservations.append(nil)
                step.observations.append(result.observation)
            }
        }
        return step
    }
}
