/// Steps an env runner sampled: for each step and copy, what was seen and done, laid out
/// step-major (`index = step * copies + copy`).
public struct SampleBatch: Sendable, Codable {
    public var copies: Int
    public var observations: [[Float]]
    /// The actions taken: a discrete action's index as one number, a box action's vector (for
    /// a Gaussian policy the sample before clipping, which its log-probability is of).
    public var actions: [[Float]]
    /// The log-probability of each action under the policy that chose it (0 for DQN's).
    public var logProbabilities: [Double]
    public var rewards: [Double]
    public var terminated: [Bool]
    public var truncated: [Bool]
    /// The observation after the last step of each copy (to bootstrap its value), and for each
    /// step that ended an episode (terminated or truncated) its final observation, by step index.
    public var nextObservations: [[Float]]
    public var finalObservations: [Int: [Float]]
    /// Episodes that finished while sampling: their returns and lengths.
    public var episodeReturns: [Double]
    public var episodeLengths: [Int]

    public var count: Int { actions.count }

    /// The actions as indices of a discrete space.
    var discreteActions: [Int] { actions.map { Int($0[0]) } }

    /// The observation that followed step `index`: the next step's, the episode's final one when
    /// it ended there, or the one after the batch's last step.
    func observation(after index: Int) -> [Float] {
        if let final = finalObservations[index] { return final }
        return index + copies < count ? observations[index + copies] : nextObservations[index % copies]
    }

    init(copies: Int) {
        self.copies = copies
        observations = []
        actions = []
        logProbabilities = []
        rewards = []
        terminated = []
        truncated = []
        nextObservations = []
        finalObservations = [:]
        episodeReturns = []
        episodeLengths = []
    }
}
