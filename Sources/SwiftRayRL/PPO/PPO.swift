import Foundation
import SwiftRay
import SwiftRayNN

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
    /// (`PPOConfig.evaluation(interval:episodes:)`); nil on the others.
    public var evaluationReturnMean: Double?
    /// The seed's spelling, RLlib's old key.
    public var episodeRewardMean: Double { episodeReturnMean }
}

/// PPO's settings, built as RLlib's `PPOConfig` is: `PPOConfig().environment("CartPole-v1")
/// .envRunners(2).training(...).build()`.
public struct PPOConfig: Sendable {
    public var environmentName = "CartPole-v1"
    public var numEnvRunners = 2
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
    public var seed: UInt64 = 0
    /// Evaluate every this many iterations (0: never), with this many episodes split over the runners.
    public var evaluationInterval = 0
    public var evaluationEpisodes = 10

    public init() {}

    /// A built-in environment by id (`"CartPole-v1"`).
    public func environment(_ id: String) -> Self { with { $0.environmentName = id } }
    /// A user's environment by type (env runners find it by name in their copy of the binary).
    public func environment<E: Environment>(_ type: E.Type) -> Self { with { $0.environmentName = _mangledTypeName(E.self) ?? "\(E.self)" } }
    /// How many env-runner actors sample in parallel, and environment copies in each.
    public func envRunners(_ count: Int, environmentsPerRunner: Int? = nil) -> Self {
        with {
            $0.numEnvRunners = max(count, 1)
            if let environmentsPerRunner { $0.environmentsPerRunner = max(environmentsPerRunner, 1) }
        }
    }
    /// The seed's spelling (`.rollouts(num_rollout_workers=4)`), which RLlib now rejects: the same as `envRunners`.
    public func rollouts(numRolloutWorkers: Int) -> Self { envRunners(numRolloutWorkers) }
    public func training(
        learningRate: Double? = nil, gamma: Double? = nil, lambda: Double? = nil, clip: Double? = nil, entropyCoefficient: Double? = nil,
        numEpochs: Int? = nil, minibatchSize: Int? = nil, rolloutFragmentLength: Int? = nil
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
        }
    }
    public func debugging(seed: UInt64) -> Self { with { $0.seed = seed } }
    /// Greedy evaluation episodes every `interval` iterations (RLlib's `evaluation_interval`,
    /// `evaluation_duration`), reported as `RLResult.evaluationReturnMean`.
    public func evaluation(interval: Int, episodes: Int = 10) -> Self {
        with {
            $0.evaluationInterval = max(interval, 0)
            $0.evaluationEpisodes = max(episodes, 1)
        }
    }

    private func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }

    /// Starts the env runners and the learner.
    /// - Throws: `EnvironmentError.unknown` for an unknown environment, `PPOError` for a
    ///   continuous action space (not yet).
    public func build() async throws -> PPO { try await PPO(config: self) }
}

public enum PPOError: Error, CustomStringConvertible, Sendable {
    case unsupportedActionSpace(Space)

    public var description: String {
        switch self {
        case .unsupportedActionSpace(let space): "PPO here handles discrete action spaces so far, not \(space)"
        }
    }
}

/// Proximal Policy Optimization (clipped objective, GAE, minibatch epochs) with env-runner
/// actors sampling in parallel; the learner runs in the caller's process and hands the runners
/// its weights through the object store once per iteration.
public final class PPO: @unchecked Sendable {
    public let config: PPOConfig
    private var policy: MLP
    private var value: MLP
    private var policyOptimizer: Adam
    private var valueOptimizer: Adam
    private var runners: [EnvRunner]
    private var random: SeededRandom
    private var recentReturns: [Double] = []
    private var recentLengths: [Int] = []
    private var iteration = 0, episodesLifetime = 0, envStepsLifetime = 0
    private var curve: [(steps: Int, episodeReturn: Double)] = []

    init(config: PPOConfig) async throws {
        self.config = config
        let type = try environmentType(config.environmentName)
        let probe = type.init()
        guard case .discrete(let actions) = probe.actionSpace else { throw PPOError.unsupportedActionSpace(probe.actionSpace) }
        let inputs = probe.observationSpace.size
        let policySizes = [inputs] + config.hidden + [actions]
        policy = MLP(sizes: policySizes, hidden: .tanh, seed: config.seed)
        value = MLP(sizes: [inputs] + config.hidden + [1], hidden: .tanh, seed: config.seed &+ 1)
        policyOptimizer = Adam(learningRate: config.learningRate, parameterCount: policy.parameterCount)
        valueOptimizer = Adam(learningRate: config.learningRate, parameterCount: value.parameterCount)
        random = SeededRandom(seed: config.seed &+ 2)
        runners = []
        for index in 0..<config.numEnvRunners {
            runners.append(try await EnvRunner.create(
                environment: config.environmentName, copies: config.environmentsPerRunner, policySizes: policySizes,
                seed: config.seed &+ UInt64(index * 1_000), options: ActorOptions(numCPUs: 0)))
        }
    }

    /// One iteration: sample a train batch on every runner, then learn from it.
    public func train() async throws -> RLResult {
        let sampleStart = ContinuousClock.now
        let weights = try ray.put(policy.parameters)
        let refs = runners.map { $0.remote.sample(weights: weights, steps: config.rolloutFragmentLength) }
        var batches: [SampleBatch] = []
        for ref in refs { batches.append(try await ref.get()) }
        let learnStart = ContinuousClock.now
        learn(from: batches)
        iteration += 1
        let steps = batches.map(\.count).reduce(0, +)
        let finished = batches.flatMap(\.episodeReturns)
        envStepsLifetime += steps
        episodesLifetime += finished.count
        recentReturns = Array((recentReturns + finished).suffix(100))
        recentLengths = Array((recentLengths + batches.flatMap(\.episodeLengths)).suffix(100))
        let result = RLResult(
            iteration: iteration,
            episodeReturnMean: recentReturns.isEmpty ? .nan : recentReturns.reduce(0, +) / Double(recentReturns.count),
            episodeReturnMin: recentReturns.min() ?? .nan, episodeReturnMax: recentReturns.max() ?? .nan,
            episodeLengthMean: recentLengths.isEmpty ? .nan : Double(recentLengths.reduce(0, +)) / Double(recentLengths.count),
            episodes: finished.count, episodesLifetime: episodesLifetime, envSteps: steps, envStepsLifetime: envStepsLifetime,
            sampleSeconds: Self.seconds(learnStart - sampleStart), learnSeconds: Self.seconds(ContinuousClock.now - learnStart))
        var reported = result
        if config.evaluationInterval > 0, iteration % config.evaluationInterval == 0 {
            reported.evaluationReturnMean = try await evaluate()
        }
        curve.append((envStepsLifetime, reported.episodeReturnMean))
        return reported
    }

    /// Writes the return curve so far (mean return against environment steps) as an SVG file.
    public func writeCurve(to path: String) throws {
        let title = "PPO on \(config.environmentName): episode return mean"
        try LearningCurve.svg(curve, title: title).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The greedy policy's mean return over `evaluationEpisodes` episodes, split over the runners.
    private func evaluate() async throws -> Double {
        let weights = try ray.put(policy.parameters)
        let share = (config.evaluationEpisodes + runners.count - 1) / runners.count
        let refs = runners.enumerated().map { index, runner in
            runner.remote.evaluate(weights: weights, episodes: share, seed: config.seed &+ 1_000_000 &+ UInt64(index * share))
        }
        var returns: [Double] = []
        for ref in refs { returns += try await ref.get() }
        return returns.reduce(0, +) / Double(max(returns.count, 1))
    }

    /// The greedy action of the trained policy for `observation` (RLlib's `compute_single_action`, explore off).
    public func computeAction(_ observation: [Float]) -> Action {
        let logits = policy.logits(Matrix(rows: 1, columns: observation.count, values: observation.map(Double.init)))
        return .discrete(logits.values.indices.max { logits.values[$0] < logits.values[$1] } ?? 0)
    }

    /// Stops the env runners.
    public func stop() {
        for runner in runners { try? ray.kill(runner) }
        runners = []
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: Learning

    private func values(_ observations: [[Float]]) -> [Double] {
        guard !observations.isEmpty else { return [] }
        return value.logits(Self.matrix(observations)).values
    }

    static func matrix(_ observations: [[Float]]) -> Matrix {
        Matrix(rows: observations.count, columns: observations[0].count, values: observations.flatMap { $0.map(Double.init) })
    }

    /// Advantages (GAE) and value targets for one runner's batch, copy by copy backwards in time;
    /// a truncated episode bootstraps from its final observation's value, a terminated one from 0.
    private func advantages(_ batch: SampleBatch) -> (advantages: [Double], targets: [Double]) {
        let v = values(batch.observations), next = values(batch.nextObservations)
        let finals = batch.finalObservations.sorted { $0.key < $1.key }
        let finalValues = Dictionary(uniqueKeysWithValues: zip(finals.map(\.key), values(finals.map(\.value))))
        var advantages = [Double](repeating: 0, count: batch.count)
        let copies = batch.copies, steps = batch.count / copies
        for copy in 0..<copies {
            var running = 0.0
            for step in stride(from: steps - 1, through: 0, by: -1) {
                let index = step * copies + copy
                let nextValue: Double
                if batch.terminated[index] {
                    nextValue = 0
                    running = 0
                } else if batch.truncated[index] {
                    nextValue = finalValues[index] ?? 0
                    running = 0
                } else {
                    nextValue = step == steps - 1 ? next[copy] : v[index + copies]
                }
                let delta = batch.rewards[index] + config.gamma * nextValue - v[index]
                running = delta + config.gamma * config.lambda * running
                advantages[index] = running
            }
        }
        return (advantages, zip(advantages, v).map { $0 + $1 })
    }

    private func learn(from batches: [SampleBatch]) {
        var observations: [[Float]] = [], actions: [Int] = [], oldLogProbabilities: [Double] = []
        var advantages: [Double] = [], targets: [Double] = []
        for batch in batches {
            let (a, t) = self.advantages(batch)
            observations += batch.observations
            actions += batch.actions
            oldLogProbabilities += batch.logProbabilities
            advantages += a
            targets += t
        }
        let mean = advantages.reduce(0, +) / Double(advantages.count)
        let deviation = (advantages.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(advantages.count)).squareRoot()
        advantages = advantages.map { ($0 - mean) / (deviation + 1e-8) }
        let all = Self.matrix(observations)
        for _ in 0..<config.numEpochs {
            let order = Array(0..<observations.count).shuffled(using: &random)
            for start in stride(from: 0, to: order.count, by: config.minibatchSize) {
                let indices = Array(order[start..<min(start + config.minibatchSize, order.count)])
                let x = all.rows(indices)
                let pass = policy.forward(x)
                let objective = CategoricalPolicy.clippedObjective(
                    logits: pass.output, actions: indices.map { actions[$0] }, oldLogProbabilities: indices.map { oldLogProbabilities[$0] },
                    advantages: indices.map { advantages[$0] }, clip: config.clip, entropyCoefficient: config.entropyCoefficient)
                var parameters = policy.parameters
                policyOptimizer.step(&parameters, gradients: policy.gradients(pass, outputGradient: objective.gradient))
                policy.parameters = parameters
                let valuePass = value.forward(x)
                let scale = 1 / Double(indices.count)
                let valueGradient = Matrix(rows: indices.count, columns: 1, values: zip(valuePass.output.values, indices).map { ($0 - targets[$1]) * scale })
                var valueParameters = value.parameters
                valueOptimizer.step(&valueParameters, gradients: value.gradients(valuePass, outputGradient: valueGradient))
                value.parameters = valueParameters
            }
        }
    }
}
