/// Steps an env runner sampled: for each step and copy, what was seen and done, laid out
/// step-major (`index = step * copies + copy`).
public struct SampleBatch: Sendable, Codable {
    public var copies: Int
    public var observations: [[Float]]
    public var actions: [Int]
    public var logProbabilities: [Double]
    public var rewards: [Double]
    public var terminated: [Bool]
    public var truncated: [Bool]
    /// The observation after the last step of each copy (to bootstrap its value), and for each
    /// truncated step the episode's final observation.
    public var nextObservations: [[Float]]
    public var finalObservations: [Int: [Float]]
    /// Episodes that finished while sampling: their returns and lengths.
    public var episodeReturns: [Double]
    public var episodeLengths: [Int]

    public var count: Int { actions.count }

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
