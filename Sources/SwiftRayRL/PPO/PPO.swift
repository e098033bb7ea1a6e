import Foundation
import SwiftRay
import SwiftRayNN

/// Proximal Policy Optimization (clipped objective, GAE, minibatch epochs, entropy bonus,
/// optional observation filter) for discrete actions (categorical policy) and box actions
/// (Gaussian policy), with env-runner actors sampling in parallel. The learner runs in the
/// caller's process and hands the runners its policy through the object store once per iteration.
public final class PPO: Algorithm, @unchecked Sendable {
    /// Everything `save` keeps.
    public struct State: Codable, Sendable {
        var policy: MLP
        var value: MLP
        /// A Gaussian policy's log standard deviations; empty for a categorical one.
        var logStd: [Double]
        var policyOptimizer: Adam
        var valueOptimizer: Adam
        var observationFilter: RunningMeanStd?
        var returnScale: RunningMeanStd?
        var random: SeededRandom
        var progress: TrainingProgress
    }

    public let config: PPOConfig
    private var learner: State
    private let actionSpace: Space
    private let runners: RunnerGroup

    init(config: PPOConfig) async throws {
        self.config = config
        let probe = try environmentType(config.environmentName).init()
        actionSpace = probe.actionSpace
        let inputs = probe.observationSpace.size, outputs: Int, logStd: [Double]
        switch probe.actionSpace {
        case .discrete(let n): (outputs, logStd) = (n, [])
        case .box(let low, _): (outputs, logStd) = (low.count, Array(repeating: config.initialLogStd, count: low.count))
        }
        let policySizes = [inputs] + config.hidden + [outputs]
        let policy = MLP(sizes: policySizes, hidden: .tanh, seed: config.seed)
        let value = MLP(sizes: [inputs] + config.hidden + [1], hidden: .tanh, seed: config.seed &+ 1)
        learner = State(
            policy: policy, value: value, logStd: logStd,
            policyOptimizer: Adam(learningRate: config.learningRate, parameterCount: policy.parameterCount + logStd.count),
            valueOptimizer: Adam(learningRate: config.learningRate, parameterCount: value.parameterCount),
            observationFilter: config.normalizeObservations ? RunningMeanStd(dimensions: inputs) : nil,
            returnScale: config.normalizeRewards ? RunningMeanStd(dimensions: 1) : nil,
            random: SeededRandom(seed: config.seed &+ 2), progress: TrainingProgress())
        runners = try await RunnerGroup(
            environment: config.environmentName, count: config.numEnvRunners, copies: config.environmentsPerRunner,
            policySizes: policySizes, activation: .tanh, options: config.runnerOptions, seed: config.seed)
    }

    private func runnerPolicy(exploring: Bool) -> RunnerPolicy {
        let exploration: Exploration = !exploring ? .greedy : learner.logStd.isEmpty ? .categorical : .gaussian(logStd: learner.logStd)
        return RunnerPolicy(parameters: learner.policy.parameters, exploration: exploration, filter: learner.observationFilter)
    }

    /// One iteration: sample a train batch on every runner, then learn from it.
    public func train() async throws -> RLResult {
        let sampleStart = ContinuousClock.now
        let policy = runnerPolicy(exploring: true)
        let (batches, replaced) = try await runners.sample(policy, steps: config.rolloutFragmentLength)
        let sampleSeconds = TrainingProgress.seconds(since: sampleStart)
        let learnStart = ContinuousClock.now
        learn(from: batches, filter: policy.filter)
        var result = learner.progress.record(batches, sampleSeconds: sampleSeconds, learnSeconds: TrainingProgress.seconds(since: learnStart))
        result.runnersReplaced = replaced
        if config.evaluationInterval > 0, result.iteration % config.evaluationInterval == 0 {
            let returns = try await runners.evaluate(
                runnerPolicy(exploring: false), episodes: config.evaluationEpisodes, seed: config.seed &+ 1_000_000)
            result.evaluationReturnMean = returns.reduce(0, +) / Double(max(returns.count, 1))
        }
        return result
    }

    public func state() -> State { learner }

    public func load(_ state: State) throws {
        guard state.policy.parameterCount == learner.policy.parameterCount, state.value.parameterCount == learner.value.parameterCount,
              state.logStd.count == learner.logStd.count else {
            throw AlgorithmError.incompatibleCheckpoint("its networks have other shapes than \(config.environmentName)'s with hidden \(config.hidden)")
        }
        learner = state
    }

    /// Writes the return curve so far (mean return against environment steps) as an SVG file.
    public func writeCurve(to path: String) throws {
        try learner.progress.svg(title: "PPO on \(config.environmentName): episode return mean")
            .write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The greedy action of the trained policy for `observation` (RLlib's `compute_single_action`, explore off).
    public func computeAction(_ observation: [Float]) -> Action {
        let policy = runnerPolicy(exploring: false)
        var random = learner.random
        return policy.exploration.choose(learner.policy.logits(policy.inputs([observation])).values[...], space: actionSpace, random: &random).action
    }

    /// A Gaussian policy's standard deviations now (empty for discrete actions).
    public var actionStd: [Double] { learner.logStd.map(exp) }

    /// Stops the env runners.
    public func stop() { runners.stop() }

    /// Kills env runner `index`, as a crash would (for tests of replacement).
    public func killEnvRunner(_ index: Int) throws { try runners.kill(index) }

    // MARK: Learning

    private func values(_ observations: [[Float]], filter: RunningMeanStd?) -> [Double] {
        guard !observations.isEmpty else { return [] }
        return learner.value.logits(RunnerPolicy.inputs(observations, filter: filter)).values
    }

    /// Rewards divided by the running deviation of discounted returns (when enabled), which it updates.
    private func scaledRewards(_ batch: SampleBatch) -> [Double] {
        guard var scale = learner.returnScale else { return batch.rewards }
        var running = [Double](repeating: 0, count: batch.copies), returns: [[Double]] = []
        for (index, reward) in batch.rewards.enumerated() {
            let copy = index % batch.copies
            running[copy] = running[copy] * config.gamma + reward
            returns.append([running[copy]])
            if batch.terminated[index] || batch.truncated[index] { running[copy] = 0 }
        }
        scale.update(returns)
        learner.returnScale = scale
        let deviation = scale.std[0]
        return batch.rewards.map { $0 / deviation }
    }

    /// Advantages (GAE) and value targets for one runner's batch, copy by copy backwards in time;
    /// a truncated episode bootstraps from its final observation's value, a terminated one from 0.
    private func advantages(_ batch: SampleBatch, filter: RunningMeanStd?) -> (advantages: [Double], targets: [Double]) {
        let rewards = scaledRewards(batch)
        let v = values(batch.observations, filter: filter), next = values(batch.nextObservations, filter: filter)
        let finals = batch.finalObservations.filter { batch.truncated[$0.key] }.sorted { $0.key < $1.key }
        let finalValues = Dictionary(uniqueKeysWithValues: zip(finals.map(\.key), values(finals.map(\.value), filter: filter)))
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
                let delta = rewards[index] + config.gamma * nextValue - v[index]
                running = delta + config.gamma * config.lambda * running
                advantages[index] = running
            }
        }
        return (advantages, zip(advantages, v).map { $0 + $1 })
    }

    /// Minibatch epochs over the iteration's batches, normalised with the filter they were
    /// sampled with (so log-probabilities match); the filter then takes in their observations.
    private func learn(from batches: [SampleBatch], filter: RunningMeanStd?) {
        var observations: [[Float]] = [], actions: [[Float]] = [], oldLogProbabilities: [Double] = []
        var advantages: [Double] = [], targets: [Double] = []
        for batch in batches {
            let (a, t) = self.advantages(batch, filter: filter)
            observations += batch.observations
            actions += batch.actions
            oldLogProbabilities += batch.logProbabilities
            advantages += a
            targets += t
        }
        let mean = advantages.reduce(0, +) / Double(advantages.count)
        let deviation = (advantages.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(advantages.count)).squareRoot()
        advantages = advantages.map { ($0 - mean) / (deviation + 1e-8) }
        let all = RunnerPolicy.inputs(observations, filter: filter)
        for _ in 0..<config.numEpochs {
            let order = Array(0..<observations.count).shuffled(using: &learner.random)
            for start in stride(from: 0, to: order.count, by: config.minibatchSize) {
                let indices = Array(order[start..<min(start + config.minibatchSize, order.count)])
                let x = all.rows(indices)
                stepPolicy(x, actions: indices.map { actions[$0] }, oldLogProbabilities: indices.map { oldLogProbabilities[$0] },
                           advantages: indices.map { advantages[$0] })
                stepValue(x, targets: indices.map { targets[$0] })
            }
        }
        if var updated = learner.observationFilter {
            updated.update(observations.map { $0.map(Double.init) })
            learner.observationFilter = updated
        }
    }

    private func stepPolicy(_ x: Matrix, actions: [[Float]], oldLogProbabilities: [Double], advantages: [Double]) {
        let pass = learner.policy.forward(x)
        var gradients: [Double]
        if learner.logStd.isEmpty {
            let objective = CategoricalPolicy.clippedObjective(
                logits: pass.output, actions: actions.map { Int($0[0]) }, oldLogProbabilities: oldLogProbabilities,
                advantages: advantages, clip: config.clip, entropyCoefficient: config.entropyCoefficient)
            gradients = learner.policy.gradients(pass, outputGradient: objective.gradient)
        } else {
            let objective = GaussianPolicy.clippedObjective(
                means: pass.output, actions: actions, logStd: learner.logStd, oldLogProbabilities: oldLogProbabilities,
                advantages: advantages, clip: config.clip, entropyCoefficient: config.entropyCoefficient)
            gradients = learner.policy.gradients(pass, outputGradient: objective.meanGradient) + objective.logStdGradient
        }
        var parameters = learner.policy.parameters + learner.logStd
        learner.policyOptimizer.step(&parameters, gradients: gradients)
        learner.policy.parameters = Array(parameters[..<learner.policy.parameterCount])
        learner.logStd = Array(parameters[learner.policy.parameterCount...])
    }

    private func stepValue(_ x: Matrix, targets: [Double]) {
        let pass = learner.value.forward(x)
        let scale = 1 / Double(targets.count)
        let gradient = Matrix(rows: targets.count, columns: 1, values: zip(pass.output.values, targets).map { ($0 - $1) * scale })
        var parameters = learner.value.parameters
        learner.valueOptimizer.step(&parameters, gradients: learner.value.gradients(pass, outputGradient: gradient))
        learner.value.parameters = parameters
    }
}
