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
/// policy it is handed, on whichever node it was placed.
@RayActor
public distributed actor EnvRunner {
    private var environments: any VectorSampling
    private var observations: [[Float]]
    private var network: MLP
    private let actionSpace: Space
    private var random: SeededRandom

    /// A runner of `copies` environments named `environment` (an id or a type's mangled name),
    /// its network shaped `policySizes` with `activation` between layers, seeded `seed`.
    /// - Throws: `EnvironmentError.unknown` when no environment has that name in this binary.
    public init(actorSystem: RayActorSystem, environment: String, copies: Int, policySizes: [Int], activation: Activation, seed: UInt64) throws {
        self.actorSystem = actorSystem
        let type = try environmentType(environment)
        var environments = vector(of: type, copies: copies)
        observations = environments.reset(seed: seed)
        self.environments = environments
        actionSpace = type.init().actionSpace
        network = MLP(sizes: policySizes, hidden: activation, seed: seed)
        random = SeededRandom(seed: seed &+ 0x5EED)
    }

    /// Samples `steps` steps of every copy with `policy` (the learner's, this iteration).
    public distributed func sample(policy: RunnerPolicy, steps: Int) throws -> SampleBatch {
        network.parameters = policy.parameters
        var batch = SampleBatch(copies: environments.count)
        for _ in 0..<steps {
            let outputs = network.logits(policy.inputs(observations))
            var actions: [Action] = []
            for row in 0..<observations.count {
                let chosen = policy.exploration.choose(
                    outputs.values[row * outputs.columns..<(row + 1) * outputs.columns], space: actionSpace, random: &random)
                actions.append(chosen.action)
                batch.actions.append(chosen.stored)
                batch.logProbabilities.append(chosen.logProbability)
            }
            batch.observations += observations
            let step = try environments.step(actions)
            for (copy, final) in step.finalObservations.enumerated() {
                if let final { batch.finalObservations[batch.rewards.count + copy] = final }
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

    /// Plays `episodes` episodes with `policy`'s greedy actions (no exploration) on fresh
    /// environments seeded `seed + i`; their returns (RLlib's evaluation runs).
    public distributed func evaluate(policy: RunnerPolicy, episodes: Int, seed: UInt64) throws -> [Double] {
        network.parameters = policy.parameters
        let network = self.network, space = actionSpace
        var random = self.random
        return try environments.evaluate(episodes: episodes, seed: seed) { observation in
            let outputs = network.logits(policy.inputs([observation])).values
            return Exploration.greedy.choose(outputs[...], space: space, random: &random).action
        }
    }
}
