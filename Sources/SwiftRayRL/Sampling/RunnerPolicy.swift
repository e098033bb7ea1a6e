import Foundation
import SwiftRay
import SwiftRayNN

/// How an env runner turns its network's outputs into actions.
public enum Exploration: Sendable, Codable, Equatable {
    /// Sample the softmax of the outputs (PPO, discrete actions).
    case categorical
    /// The outputs are a Gaussian's mean: sample with these log standard deviations, clip to the
    /// box for the environment (PPO, continuous actions).
    case gaussian(logStd: [Double])
    /// The outputs are action values: the best, or with this probability a uniform action (DQN).
    case epsilonGreedy(Double)
    /// No exploration: the best output (discrete) or the clipped mean (box), as in evaluation.
    case greedy
}

/// What the learner hands its env runners once per iteration through the object store: the
/// network's parameters, how to explore, and the observation filter to apply.
public struct RunnerPolicy: Sendable, Codable {
    /// The network's parameters (`MLP.parameters`).
    public var parameters: [Double]
    public var exploration: Exploration
    /// Normalises observations before the network sees them (nil: raw observations).
    public var filter: RunningMeanStd?

    /// A policy to hand env runners.
    public init(parameters: [Double], exploration: Exploration, filter: RunningMeanStd? = nil) {
        self.parameters = parameters
        self.exploration = exploration
        self.filter = filter
    }

    /// The network's input for raw observations.
    func inputs(_ observations: [[Float]]) -> Matrix { Self.inputs(observations, filter: filter) }

    /// Observations as a network's input rows, normalised by `filter` when there is one.
    static func inputs(_ observations: [[Float]], filter: RunningMeanStd?) -> Matrix {
        let rows = observations.map { filter?.normalize($0) ?? $0.map(Double.init) }
        return Matrix(rows: rows.count, columns: rows.first?.count ?? 0, values: rows.flatMap { $0 })
    }
}

/// One chosen action: what the environment gets, what the batch keeps (the unclipped sample for
/// a Gaussian), and its log-probability under the policy.
struct ChosenAction {
    var action: Action
    var stored: [Float]
    var logProbability: Double
}

extension Exploration {
    /// The action for one row of network outputs in `space`.
    func choose(_ outputs: ArraySlice<Double>, space: Space, random: inout SeededRandom) -> ChosenAction {
        switch (self, space) {
        case (.categorical, _):
            let probabilities = CategoricalPolicy.probabilities(outputs)
            let (action, logProbability) = CategoricalPolicy.sample(probabilities, using: &random)
            return ChosenAction(action: .discrete(action), stored: [Float(action)], logProbability: logProbability)
        case (.gaussian(let logStd), .box(let low, let high)):
            let mean = Array(outputs)
            let sample = mean.indices.map { mean[$0] + exp(logStd[$0]) * random.normal() }
            let action = sample.indices.map { Float(min(max(sample[$0], Double(low[$0])), Double(high[$0]))) }
            return ChosenAction(action: .continuous(action), stored: sample.map(Float.init),
                                logProbability: GaussianPolicy.logProbability(sample, mean: mean, logStd: logStd))
        case (.epsilonGreedy(let epsilon), .discrete(let n)) where random.unit() < epsilon:
            let action = Int.random(in: 0..<n, using: &random)
            return ChosenAction(action: .discrete(action), stored: [Float(action)], logProbability: 0)
        case (_, .discrete):
            let best = outputs.indices.max { outputs[$0] < outputs[$1] }.map { $0 - outputs.startIndex } ?? 0
            return ChosenAction(action: .discrete(best), stored: [Float(best)], logProbability: 0)
        case (_, .box(let low, let high)):
            let mean = Array(outputs)
            let action = mean.indices.map { Float(min(max(mean[$0], Double(low[$0])), Double(high[$0]))) }
            return ChosenAction(action: .continuous(action), stored: action, logProbability: 0)
        }
    }
}
