import Foundation
import SwiftRay
import SwiftRayTune

/// What one `train()` call did (RLlib's result dict, Swift-named).
public struct RLResult: Sendable, Codable {
    public var iteration: Int
    /// Over the last 100 finished episodes (RLlib's window); nan before the first ends.
    public var episodeReturnMean: Double
    public var episodeReturnMin: Double
    public var episodeReturnMax: Double
    public var episodeLengthMean: Double
    /// Episodes finished in this iteration, and in all.
    public var episodes: Int
    public var episodesLifetime: Int
    /// Environment steps sampled in this iteration, and in all.
    public var envSteps: Int
    public var envStepsLifetime: Int
    public var sampleSeconds: Double
    public var learnSeconds: Double
    /// The greedy policy's mean return over the evaluation episodes, on iterations that ran them
    /// (`evaluation(interval:episodes:)`); nil on the others.
    public var evaluationReturnMean: Double?
    /// Env runners that died during this iteration and were replaced.
    public var runnersReplaced = 0
    /// The seed's spelling, RLlib's old key.
    public var episodeRewardMean: Double { episodeReturnMean }

    /// The result as Tune metrics, under RLlib's keys.
    public var metrics: Metrics {
        var metrics: Metrics = [
            "episode_return_mean": episodeReturnMean, "episode_reward_mean": episodeReturnMean,
            "episode_return_min": episodeReturnMin, "episode_return_max": episodeReturnMax, "episode_len_mean": episodeLengthMean,
            "num_episodes": Double(episodes), "num_episodes_lifetime": Double(episodesLifetime),
            "num_env_steps_sampled": Double(envSteps), "num_env_steps_sampled_lifetime": Double(envStepsLifetime),
            "sample_time_s": sampleSeconds, "learn_time_s": learnSeconds,
        ]
        if let evaluationReturnMean { metrics["evaluation_return_mean"] = evaluationReturnMean }
        return metrics
    }
}

/// A built reinforcement-learning algorithm (RLlib's `Algorithm`): trained an iteration at a time,
/// saved and restored, asked for actions.
public protocol Algorithm: AnyObject, Sendable {
    associatedtype State: Codable & Sendable
    /// One iteration: sample with the env runners, learn.
    func train() async throws -> RLResult
    /// Everything needed to continue training: networks, optimizers, filters, counters.
    func state() -> State
    /// Back to a saved state (the configuration's network shapes must match).
    /// - Throws: `AlgorithmError.incompatibleCheckpoint` when they do not.
    func load(_ state: State) throws
    /// The trained policy's action for `observation`, without exploration (RLlib's `compute_single_action`).
    func computeAction(_ observation: [Float]) -> Action
    /// Writes the return curve so far as an SVG file.
    func writeCurve(to path: String) throws
    /// Stops the env runners.
    func stop()
}

/// A configuration that builds an algorithm (RLlib's `AlgorithmConfig`).
public protocol AlgorithmConfig: Sendable, Codable {
    associatedtype Built: Algorithm
    /// Starts the env runners and the learner.
    func build() async throws -> Built
    /// This configuration with a Tune trial's sampled values applied (RLlib's key names, e.g.
    /// `lr`, `gamma`); unknown keys are ignored.
    func applying(_ trial: TrialConfig) -> Self
}

extension Algorithm {
    /// Saves the algorithm in `directory` (created if need be): its state as
    /// `algorithm_state.json` and its return curve as `returns.svg` next to it. Returns the path
    /// of the state file.
    @discardableResult
    public func save(to directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("algorithm_state.json")
        try JSONEncoder().encode(state()).write(to: URL(fileURLWithPath: path), options: .atomic)
        try writeCurve(to: (directory as NSString).appendingPathComponent("returns.svg"))
        return path
    }

    /// Restores what `save(to:)` wrote in `directory` (RLlib's `algo.restore(path)`).
    /// - Throws: a file error, a decoding error for a damaged file, `AlgorithmError.incompatibleCheckpoint`.
    public func restore(from directory: String) throws {
        let path = (directory as NSString).appendingPathComponent("algorithm_state.json")
        try load(JSONDecoder().decode(State.self, from: Data(contentsOf: URL(fileURLWithPath: path))))
    }
}

/// A misused algorithm.
public enum AlgorithmError: Error, CustomStringConvertible, Sendable, Equatable {
    case unsupportedActionSpace(algorithm: String, Space)
    case incompatibleCheckpoint(String)
    /// Every env runner died in one iteration (each is replaced; this one had nothing to learn from).
    case noSamples

    public var description: String {
        switch self {
        case .unsupportedActionSpace(let algorithm, let space): "\(algorithm) does not handle the action space \(space)"
        case .incompatibleCheckpoint(let why): "the checkpoint does not fit this algorithm: \(why)"
        case .noSamples: "every env runner died in this iteration; they were replaced, train again"
        }
    }
}

/// The settings every algorithm's configuration has, and RLlib's builder methods over them.
public protocol EnvRunnerSettings {
    /// A built-in id (`"CartPole-v1"`) or an environment type's mangled name.
    var environmentName: String { get set }
    /// Env-runner actors sampling in parallel.
    var numEnvRunners: Int { get set }
    /// Environment copies stepped together in each runner.
    var environmentsPerRunner: Int { get set }
    /// CPUs each runner holds (0: runners only use what the learner leaves).
    var numCPUsPerEnvRunner: Double { get set }
    /// Custom resources each runner holds, which place runners on the nodes that have them.
    var customResourcesPerEnvRunner: [String: Double] { get set }
    /// Seeds networks, runners and minibatch order.
    var seed: UInt64 { get set }
    /// Greedy evaluation every this many iterations (0: never).
    var evaluationInterval: Int { get set }
    /// Evaluation episodes per evaluation, split over the runners.
    var evaluationEpisodes: Int { get set }
}

extension EnvRunnerSettings {
    /// A built-in environment by id (`"CartPole-v1"`, `"Pendulum-v1"`).
    public func environment(_ id: String) -> Self { with { $0.environmentName = id } }
    /// A user's environment by type (env runners find it by name in their copy of the binary).
    public func environment<E: Environment>(_ type: E.Type) -> Self { with { $0.environmentName = _mangledTypeName(E.self) ?? "\(E.self)" } }
    /// How many env-runner actors sample in parallel, environment copies in each, and what each
    /// holds (RLlib's `env_runners(num_env_runners=, num_envs_per_env_runner=, ...)`).
    public func envRunners(
        _ count: Int, environmentsPerRunner: Int? = nil, numCPUsPerEnvRunner: Double? = nil, customResourcesPerEnvRunner: [String: Double]? = nil
    ) -> Self {
        with {
            $0.numEnvRunners = max(count, 1)
            if let environmentsPerRunner { $0.environmentsPerRunner = max(environmentsPerRunner, 1) }
            if let numCPUsPerEnvRunner { $0.numCPUsPerEnvRunner = max(numCPUsPerEnvRunner, 0) }
            if let customResourcesPerEnvRunner { $0.customResourcesPerEnvRunner = customResourcesPerEnvRunner }
        }
    }
    /// The seed's spelling (`.rollouts(num_rollout_workers=4)`), which RLlib now rejects: the same as `envRunners`.
    public func rollouts(numRolloutWorkers: Int) -> Self { envRunners(numRolloutWorkers) }
    /// Seeds the networks, env runners and minibatch order (a seed gives the same run).
    public func debugging(seed: UInt64) -> Self { with { $0.seed = seed } }
    /// Greedy evaluation episodes every `interval` iterations (RLlib's `evaluation_interval`,
    /// `evaluation_duration`), reported as `RLResult.evaluationReturnMean`.
    public func evaluation(interval: Int, episodes: Int = 10) -> Self {
        with {
            $0.evaluationInterval = max(interval, 0)
            $0.evaluationEpisodes = max(episodes, 1)
        }
    }

    func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }

    var runnerOptions: ActorOptions { ActorOptions(numCPUs: numCPUsPerEnvRunner, resources: customResourcesPerEnvRunner) }
}
