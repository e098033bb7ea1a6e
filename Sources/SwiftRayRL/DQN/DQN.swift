import Foundation
import SwiftRay
import SwiftRayNN

/// Deep Q-learning (replay buffer, target network, epsilon-greedy schedule, double DQN, Huber
/// loss) with env-runner actors sampling in parallel; the learner runs in the caller's process.
public final class DQN: Algorithm, @unchecked Sendable {
    /// Everything `save` keeps (the replay buffer is not saved, as in RLlib by default).
    public struct State: Codable, Sendable {
        var online: MLP
        var target: MLP
        var optimizer: Adam
        var random: SeededRandom
        var progress: TrainingProgress
        var stepsAtTargetUpdate: Int
    }

    public let config: DQNConfig
    private var learner: State
    private var replay: ReplayBuffer
    private let actionSpace: Space
    private let runners: RunnerGroup

    init(config: DQNConfig) async throws {
        self.config = config
        let probe = try environmentType(config.environmentName).init()
        guard case .discrete(let actions) = probe.actionSpace else {
            throw AlgorithmError.unsupportedActionSpace(algorithm: "DQN", probe.actionSpace)
        }
        actionSpace = probe.actionSpace
        let sizes = [probe.observationSpace.size] + config.hidden + [actions]
        let online = MLP(sizes: sizes, hidden: .relu, seed: config.seed)
        learner = State(
            online: online, target: online, optimizer: Adam(learningRate: config.learningRate, parameterCount: online.parameterCount),
            random: SeededRandom(seed: config.seed &+ 2), progress: TrainingProgress(), stepsAtTargetUpdate: 0)
        replay = ReplayBuffer(capacity: config.replayCapacity)
        runners = try await RunnerGroup(
            environment: config.environmentName, count: config.numEnvRunners, copies: config.environmentsPerRunner,
            policySizes: sizes, activation: .relu, options: config.runnerOptions, seed: config.seed)
    }

    /// One iteration: sample with the current epsilon, add to the replay buffer, then (once
    /// `learningStarts` steps are in) take `updatesPerIteration` gradient steps.
    public func train() async throws -> RLResult {
        let sampleStart = ContinuousClock.now
        let epsilon = config.epsilon(after: learner.progress.envStepsLifetime)
        let policy = RunnerPolicy(parameters: learner.online.parameters, exploration: .epsilonGreedy(epsilon))
        let (batches, replaced) = try await runners.sample(policy, steps: config.rolloutFragmentLength)
        let sampleSeconds = TrainingProgress.seconds(since: sampleStart)
        let learnStart = ContinuousClock.now
        for batch in batches { replay.add(batch) }
        if learner.progress.envStepsLifetime + batches.map(\.count).reduce(0, +) >= config.learningStarts {
            for _ in 0..<config.updatesPerIteration { update() }
        }
        var result = learner.progress.record(batches, sampleSeconds: sampleSeconds, learnSeconds: TrainingProgress.seconds(since: learnStart))
        if result.envStepsLifetime - learner.stepsAtTargetUpdate >= config.targetNetworkUpdateFrequency {
            learner.target = learner.online
            learner.stepsAtTargetUpdate = result.envStepsLifetime
        }
        result.runnersReplaced = replaced
        if config.evaluationInterval > 0, result.iteration % config.evaluationInterval == 0 {
            let greedy = RunnerPolicy(parameters: learner.online.parameters, exploration: .greedy)
            let returns = try await runners.evaluate(greedy, episodes: config.evaluationEpisodes, seed: config.seed &+ 1_000_000)
            result.evaluationReturnMean = returns.reduce(0, +) / Double(max(returns.count, 1))
        }
        return result
    }

    /// One gradient step of the Huber loss between Q(s, a) and r + γ·Q_target(s', a*), with a*
    /// the online network's choice (double DQN) or the target's own best.
    private func update() {
        let indices = replay.sample(config.trainBatchSize, using: &learner.random)
        let x = RunnerPolicy.inputs(indices.map { replay.observations[$0] }, filter: nil)
        let next = RunnerPolicy.inputs(indices.map { replay.nextObservations[$0] }, filter: nil)
        let pass = learner.online.forward(x)
        let nextTarget = learner.target.logits(next)
        let nextOnline = config.doubleQ ? learner.online.logits(next) : nextTarget
        let columns = pass.output.columns, scale = 1 / Double(indices.count)
        var gradient = Matrix(rows: indices.count, columns: columns)
        for (row, index) in indices.enumerated() {
            let choices = nextOnline.values[row * columns..<(row + 1) * columns]
            let best = choices.indices.max { choices[$0] < choices[$1] }! - row * columns
            let bootstrap = replay.terminals[index] ? 0 : config.gamma * nextTarget[row, best]
            let error = pass.output[row, replay.actions[index]] - (replay.rewards[index] + bootstrap)
            gradient[row, replay.actions[index]] = min(max(error, -1), 1) * scale  // Huber's slope
        }
        var gradients = learner.online.gradients(pass, outputGradient: gradient)
        let norm = gradients.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > config.gradientClip { gradients = gradients.map { $0 * config.gradientClip / norm } }
        var parameters = learner.online.parameters
        learner.optimizer.step(&parameters, gradients: gradients)
        learner.online.parameters = parameters
    }

    public func state() -> State { learner }

    public func load(_ state: State) throws {
        guard state.online.parameterCount == learner.online.parameterCount else {
            throw AlgorithmError.incompatibleCheckpoint("its Q network has another shape than \(config.environmentName)'s with hidden \(config.hidden)")
        }
        learner = state
    }

    public func writeCurve(to path: String) throws {
        try learner.progress.svg(title: "DQN on \(config.environmentName): episode return mean")
            .write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The action with the highest Q value for `observation`.
    public func computeAction(_ observation: [Float]) -> Action {
        var random = learner.random
        return Exploration.greedy.choose(learner.online.logits(RunnerPolicy.inputs([observation], filter: nil)).values[...], space: actionSpace, random: &random).action
    }

    public func stop() { runners.stop() }

    /// Kills env runner `index`, as a crash would (for tests of replacement).
    public func killEnvRunner(_ index: Int) throws { try runners.kill(index) }
}
