import SwiftRay
import SwiftRayTune

/// PPO's settings, built as RLlib's `PPOConfig` is: `PPOConfig().environment("CartPole-v1")
/// .envRunners(2).training(...).build()`.
public struct PPOConfig: AlgorithmConfig, EnvRunnerSettings {
    public var environmentName = "CartPole-v1"
    public var numEnvRunners = 2
    /// CPUs and custom resources each env runner holds (RLlib's `num_cpus_per_env_runner`,
    /// `custom_resources_per_env_runner`): a custom resource places runners on the nodes that have it.
    public var numCPUsPerEnvRunner = 0.0
    public var customResourcesPerEnvRunner: [String: Double] = [:]
    public var environmentsPerRunner = 4
    /// Steps each environment copy takes per iteration (the train batch is runners × copies × this).
    public var rolloutFragmentLength = 256
    public var learningRate = 1e-3
    public var gamma = 0.99
    public var lambda = 0.95
    public var clip = 0.2
    public var entropyCoefficient = 0.0
    public var numEpochs = 10
    public var minibatchSize = 256
    public var hidden = [64, 64]
    /// Normalise observations by their running mean and deviation (RLlib's `MeanStdFilter`).
    public var normalizeObservations = false
    /// Scale rewards by the running deviation of discounted returns (for large-reward tasks such
    /// as Pendulum, so the value network's targets stay near 1).
    public var normalizeRewards = false
    /// A Gaussian policy's initial log standard deviation (box actions).
    public var initialLogStd = 0.0
    public var seed: UInt64 = 0
    /// Evaluate every this many iterations (0: never), with this many episodes split over the runners.
    public var evaluationInterval = 0
    public var evaluationEpisodes = 10

    /// RLlib's defaults where they learn CartPole well; see the properties.
    public init() {}

    /// PPO's training parameters (RLlib's `lr`, `gamma`, `lambda_`, `clip_param`, `entropy_coeff`,
    /// `num_epochs`, `minibatch_size`, `rollout_fragment_length`, `fcnet_hiddens`); nil keeps a value.
    public func training(
        learningRate: Double? = nil, gamma: Double? = nil, lambda: Double? = nil, clip: Double? = nil, entropyCoefficient: Double? = nil,
        numEpochs: Int? = nil, minibatchSize: Int? = nil, rolloutFragmentLength: Int? = nil, hidden: [Int]? = nil,
        initialLogStd: Double? = nil
    ) -> Self {
        with {
            if let learningRate { $0.learningRate = learningRate }
            if let gamma { $0.gamma = gamma }
            if let lambda { $0.lambda = lambda }
            if let clip { $0.clip = clip }
            if let entropyCoefficient { $0.entropyCoefficient = entropyCoefficient }
            if let numEpochs { $0.numEpochs = numEpochs }
            if let minibatchSize { $0.minibatchSize = minibatchSize }
            if let rolloutFragmentLength { $0.rolloutFragmentLength = rolloutFragmentLength }
            if let hidden { $0.hidden = hidden }
            if let initialLogStd { $0.initialLogStd = initialLogStd }
        }
    }
    /// Observation filter (RLlib's `observation_filter="MeanStdFilter"`) and reward scaling.
    public func normalization(observations: Bool, rewards: Bool = false) -> Self {
        with {
            $0.normalizeObservations = observations
            $0.normalizeRewards = rewards
        }
    }

    /// Starts the env runners and the learner.
    /// - Throws: `EnvironmentError.unknown` for an unknown environment.
    public func build() async throws -> PPO { try await PPO(config: self) }

    /// Applies `lr`, `gamma`, `lambda`, `clip_param`, `entropy_coeff`, `num_epochs`,
    /// `minibatch_size`, `rollout_fragment_length` and `seed` from a Tune trial.
    public func applying(_ trial: TrialConfig) -> Self {
        with {
            if let value = trial.value("lr")?.double { $0.learningRate = value }
            if let value = trial.value("gamma")?.double { $0.gamma = value }
            if let value = trial.value("lambda")?.double { $0.lambda = value }
            if let value = trial.value("clip_param")?.double { $0.clip = value }
            if let value = trial.value("entropy_coeff")?.double { $0.entropyCoefficient = value }
            if let value = trial.int("num_epochs") { $0.numEpochs = value }
            if let value = trial.int("minibatch_size") { $0.minibatchSize = value }
            if let value = trial.int("rollout_fragment_length") { $0.rolloutFragmentLength = value }
            if let value = trial.int("seed") { $0.seed = UInt64(value) }
        }
    }
}

extension PPOConfig {
    /// Settings that swing Pendulum-v1 up (return mean above -300): 4 environments per runner,
    /// γ 0.9, observation and reward normalisation, as the tuned examples of RLlib and SB3 do.
    public static var pendulum: PPOConfig {
        PPOConfig().environment("Pendulum-v1").envRunners(2, environmentsPerRunner: 4)
            .training(learningRate: 1e-3, gamma: 0.9, lambda: 0.95, numEpochs: 10, minibatchSize: 256, rolloutFragmentLength: 256)
            .normalization(observations: true, rewards: true)
    }
}
