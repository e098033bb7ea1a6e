import Foundation
import SwiftRay
import SwiftRayNN

/// Steps a vector environment of any environment type, named by type at run time.
protocol VectorSampling: Sendable {
    var count: Int { get }
    /// Plays `episodes` whole episodes on a fresh copy (seeded `seed + i`) choosing actions with
    /// `act`; their returns.
    func evaluate(episodes: Int, seed: UInt64, act: ([Float]) -> Action) throws -> [Double]
    mutating func reset(seed: UInt64?) -> [[Float]]
    mutating func step(_ actions: [Action]) throws -> VectorStep
}

extension VectorEnvironment: VectorSampling {
    func evaluate(episodes: Int, seed: UInt64, act: ([Float]) -> Action) throws -> [Double] {
        try (0..<episodes).map { episode in
            var environment = TimeLimited<E>()
            var observation = environment.reset(seed: seed &+ UInt64(episode)).observation
            var total = 0.0
            while true {
                let result = try environment.step(act(observation))
                total += result.reward
                if result.isDone { return total }
                observation = result.observation
            }
        }
    }
}

/// The environment type named `name`: a built-in id (`CartPole-v1`) or a type's mangled name.
func environmentType(_ name: String) throws -> any Environment.Type {
    if let type = Environments.builtIn[name] { return type }
    guard let type = _typeByName(name) as? any Environment.Type else { throw EnvironmentError.unknown(name) }
    return type
}

private func vector<E: Environment>(of type: E.Type, copies: Int) -> any VectorSampling { VectorEnvironment<E>(count: copies) }

/// An env runner (RLlib's `EnvRunner`): an actor with `copies` environments that samples with the
/// policy weights it is handed, on whichever node it was placed.
@RayActor
public distributed actor EnvRunner {
    private var environments: any VectorSampling
    private var observations: [[Float]]
    private var policy: MLP
    private var random: SeededRandom

    public init(actorSystem: RayActorSystem, environment: String, copies: Int, policySizes: [Int], seed: UInt64) throws {
        self.actorSystem = actorSystem
        var environments = vector(of: try environmentType(environment), copies: copies)
        observations = environments.reset(seed: seed)
        self.environments = environments
        policy = MLP(sizes: policySizes, hidden: .tanh, seed: seed)
        random = SeededRandom(seed: seed &+ 0x5EED)
    }

    /// Samples `steps` steps of every copy with `weights` (the learner's policy parameters).
    public distributed func sample(weights: [Double], steps: Int) throws -> SampleBatch {
        policy.parameters = weights
        var batch = SampleBatch(copies: environments.count)
        for _ in 0..<steps {
            let logits = policy.logits(Matrix(rows: observations.count, columns: observations[0].count, values: observations.flatMap { $0.map(Double.init) }))
            var actions: [Action] = []
            for row in 0..<observations.count {
                let probabilities = CategoricalPolicy.probabilities(logits.values[row * logits.columns..<(row + 1) * logits.columns])
                let (action, logProbability) = CategoricalPolicy.sample(probabilities, using: &random)
                actions.append(.discrete(action))
                batch.actions.append(action)
                batch.logProbabilities.append(logProbability)
            }
            batch.observations += observations
            let step = try environments.step(actions)
            for (copy, final) in step.finalObservations.enumerated() {
                if let final, step.truncated[copy] { batch.finalObservations[batch.rewards.count + copy] = final }
            }
            batch.rewards += step.rewards
            batch.terminated += step.terminated
            batch.truncated += step.truncated
            batch.episodeReturns += step.finishedEpisodes.map(\.episodeReturn)
            batch.episodeLengths += step.finishedEpisodes.map(\.length)
            observations = step.observations
        }
        batch.nextObservations = observations
        return batch
    }

    /// Plays `episodes` episodes with `weights`' greedy actions (no exploration) on fresh
    /// environments seeded `seed + i`; their returns (RLlib's evaluation runs).
    public distributed func evaluate(weights: [Double], episodes: Int, seed: UInt64) throws -> [Double] {
        policy.parameters = weights
        let policy = self.policy
        return try environments.evaluate(episodes: episodes, seed: seed) { observation in
            let logits = policy.logits(Matrix(rows: 1, columns: observation.count, values: observation.map(Double.init))).values
            return .discrete(logits.indices.max { logits[$0] < logits[$1] } ?? 0)
        }
    }
}
