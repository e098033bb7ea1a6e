import SwiftRay

/// A fixed-capacity ring of transitions (RLlib's replay buffer): the oldest are overwritten, and
/// minibatches are drawn uniformly.
struct ReplayBuffer: Sendable, Codable {
    let capacity: Int
    private(set) var observations: [[Float]] = []
    private(set) var actions: [Int] = []
    private(set) var rewards: [Double] = []
    private(set) var nextObservations: [[Float]] = []
    /// The episode ended in a terminal state (no bootstrapping from the next observation).
    private(set) var terminals: [Bool] = []
    private var next = 0

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    var count: Int { actions.count }

    mutating func add(observation: [Float], action: Int, reward: Double, nextObservation: [Float], terminal: Bool) {
        if count < capacity {
            observations.append(observation)
            actions.append(action)
            rewards.append(reward)
            nextObservations.append(nextObservation)
            terminals.append(terminal)
        } else {
            observations[next] = observation
            actions[next] = action
            rewards[next] = reward
            nextObservations[next] = nextObservation
            terminals[next] = terminal
        }
        next = (next + 1) % capacity
    }

    /// Every step of a runner's batch, each with the observation that followed it.
    mutating func add(_ batch: SampleBatch) {
        for index in 0..<batch.count {
            add(observation: batch.observations[index], action: Int(batch.actions[index][0]), reward: batch.rewards[index],
                nextObservation: batch.observation(after: index), terminal: batch.terminated[index])
        }
    }

    /// `size` indices drawn uniformly with replacement.
    func sample(_ size: Int, using random: inout SeededRandom) -> [Int] {
        (0..<size).map { _ in Int.random(in: 0..<count, using: &random) }
    }
}
