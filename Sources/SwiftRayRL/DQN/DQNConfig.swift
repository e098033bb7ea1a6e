import SwiftRay
import SwiftRayTune

/// DQN's settings, built as RLlib's `DQNConfig` is: `DQNConfig().environment("CartPole-v1")
/// .envRunners(2).training(...).build()`. The defaults solve CartPole-v1 in about 50k steps.
public struct DQNConfig: AlgorithmConfig, EnvRunnerSettings {
    public var environmentName = "CartPole-v1"
    public var numEnvRunners = 2
    /// CPUs and custom resources each env runner holds (RLlib's `num_cpus_per_env_runner`,
    /// `custom_resources_per_env_runner`): a custom resource places runners on the nodes that have it.
    public var numCPUsPerEnvRunner = 0.0
    public var customResourcesPerEnvRunner: [String: Double] = [:]
    public var environmentsPerRunner = 1
    /// Steps each environment copy takes per iteration.
    public var rolloutFragmentLength = 64
    public var learningRate = 2e-3
    public var gamma = 0.99
    public var trainBatchSize = 64
    /// Gradient steps per iteration (each on a minibatch drawn from the replay buffer).
    public var updatesPerIteration = 64
    public var replayCapacity = 100_000
    /// Environment steps sampled before learning starts (RLlib's `num_steps_sampled_before_learning_starts`).
    public var learningStarts = 1_000
    /// Environment steps between copies of the online network into the target network.
    public var targetNetworkUpdateFrequency = 128
    /// Pick the next action with the online network, value it with the target (double DQN).
    public var doubleQ = true
    /// Epsilon falls linearly from `initialEpsilon` to `finalEpsilon` over `epsilonTimesteps` steps.
    public var initialEpsilon = 1.0
    public var finalEpsilon = 0.04
    public var epsilonTimesteps = 8_000
    /// Gradients are rescaled to at most this global norm.
    public var gradientClip = 10.0
    public var hidden = [128, 128]
    public var seed: UInt64 = 0
    /// Evaluate every this many iterations (0: never), with this many episodes split over the runners.
    public var evaluationInterval = 0
    public var evaluationEpisodes = 10

    /// Defaults that solve CartPole-v1 (SB3's tuned DQN, 2 runners); see the properties.
    public init() {}

    /// DQN's training parameters (RLlib's `lr`, `gamma`, `train_batch_size`, `replay_buffer_config`'s
    /// capacity, `num_steps_sampled_before_learning_starts`, `target_network_update_freq`,
    /// `double_q`, `rollout_fragment_length`, `fcnet_hiddens`); nil keeps a value.
    public func training(
        learningRate: Double? = nil, gamma: Double? = nil, trainBatchSize: Int? = nil, updatesPerIteration: Int? = nil,
        replayCapacity: Int? = nil, learningStarts: Int? = nil, targetNetworkUpdateFrequency: Int? = nil, doubleQ: Bool? = nil,
        rolloutFragmentLength: Int? = nil, hidden: [Int]? = nil
    ) -> Self {
        with {
            if let learningRate { $0.learningRate = learningRate }
            if let gamma { $0.gamma = gamma }
            if let trainBatchSize { $0.trainBatchSize = max(trainBatchSize, 1) }
            if let updatesPerIteration { $0.updatesPerIteration = max(updatesPerIteration, 0) }
            if let replayCapacity { $0.replayCapacity = max(replayCapacity, 1) }
            if let learningStarts { $0.learningStarts = max(learningStarts, 0) }
            if let targetNetworkUpdateFrequency { $0.targetNetworkUpdateFrequency = max(targetNetworkUpdateFrequency, 1) }
            if let doubleQ { $0.doubleQ = doubleQ }
            if let rolloutFragmentLength { $0.rolloutFragmentLength = max(rolloutFragmentLength, 1) }
            if let hidden { $0.hidden = hidden }
        }
    }
    /// The epsilon-greedy schedule (RLlib's `epsilon=[[0, 1.0], [timesteps, final]]`).
    public func exploration(initialEpsilon: Double = 1, finalEpsilon: Double, timesteps: Int) -> Self {
        with {
            $0.initialEpsilon = initialEpsilon
            $0.finalEpsilon = finalEpsilon
            $0.epsilonTimesteps = max(timesteps, 1)
        }
    }

    /// Epsilon after `steps` environment steps.
    func epsilon(after steps: Int) -> Double {
        let progress = min(Double(steps) / Double(epsilonTimesteps), 1)
        return initialEpsilon + (finalEpsilon - initialEpsilon) * progress
    }

    /// Starts the env runners and the learner.
    /// - Throws: `EnvironmentError.unknown`, `AlgorithmError.unsupportedActionSpace` for a box action space.
    public func build() async throws -> DQN { try await DQN(config: self) }

    /// Applies `lr`, `gamma`, `train_batch_size`, `target_network_update_freq`, `double_q` and `seed` from a Tune trial.
    public func applying(_ trial: TrialConfig) -> Self {
        with {
            if let value = trial.value("lr")?.double { $0.learningRate = value }
            if let value = trial.value("gamma")?.double { $0.gamma = value }
            if let value = trial.int("train_batch_size") { $0.trainBatchSize = value }
            if let value = trial.int("target_network_update_freq") { $0.targetNetworkUpdateFrequency = value }
            if let value = trial.bool("double_q") { $0.doubleQ = value }
            if let value = trial.int("seed") { $0.seed = UInt64(value) }
        }
    }
}
