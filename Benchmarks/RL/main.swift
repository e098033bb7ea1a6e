// Learning speed of SwiftRayRL's PPO and DQN, and env-runner sampling throughput, on this machine;
// Benchmarks/rl_rllib.py measures RLlib 2.60 the same way (Benchmarks/rl_compare.sh runs both).
//   swift run -c release swiftray-rl-bench [ppo-cartpole|ppo-pendulum|dqn-cartpole|sample] [seeds]
import Foundation
import SwiftRay
import SwiftRayRL

/// Where return curves go (`SWIFTRAY_RL_CURVES`, a folder): one SVG per run.
let curves = ProcessInfo.processInfo.environment["SWIFTRAY_RL_CURVES"]

/// Trains until `solved` says so or `maxSteps` environment steps; prints each iteration and the outcome.
func run(_ label: String, _ algorithm: some Algorithm, maxSteps: Int, solved: (RLResult) -> Bool) async throws -> (steps: Int, seconds: Double)? {
    let start = ContinuousClock.now
    defer {
        if let curves { try? algorithm.writeCurve(to: "\(curves)/\(label.replacingOccurrences(of: " ", with: "-")).svg") }
        algorithm.stop()
    }
    while true {
        let result = try await algorithm.train()
        let seconds = seconds(since: start)
        let evaluation = result.evaluationReturnMean.map { String(format: " eval %.1f", $0) } ?? ""
        print(String(format: "%@ iter %3d steps %7d return %7.1f%@ (%.1f s)", label, result.iteration, result.envStepsLifetime,
                     result.episodeReturnMean, evaluation, seconds))
        if solved(result) { return (result.envStepsLifetime, seconds) }
        if result.envStepsLifetime >= maxSteps { return nil }
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let duration = ContinuousClock.now - start
    return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Median of the seeds' outcomes (an unsolved seed counts as infinitely slow).
func summarize(_ name: String, _ outcomes: [(steps: Int, seconds: Double)?], target: String) {
    let sorted = outcomes.map { $0 ?? (Int.max, .infinity) }.sorted { $0.seconds < $1.seconds }
    let median = sorted[sorted.count / 2]
    print("RESULT \(name): \(target) for \(outcomes.compactMap { $0 }.count)/\(outcomes.count) seeds; median \(median.steps == Int.max ? "unsolved" : "\(median.steps) steps, \(String(format: "%.1f", median.seconds)) s")")
}

let arguments = CommandLine.arguments.dropFirst()
let mode = arguments.first ?? "ppo-cartpole"
let seeds = arguments.dropFirst().first.map { $0.split(separator: ",").compactMap { UInt64($0) } } ?? [0, 1, 2]
try await Ray.start(numCPUs: 2, includeDashboard: false)
switch mode {
case "ppo-cartpole":
    // Two bars: RLlib's (the greedy evaluation mean of 10 episodes), and the stricter mean of the
    // last 100 exploring training episodes.
    var outcomes: [(steps: Int, seconds: Double)?] = [], strict: [(steps: Int, seconds: Double)?] = []
    for seed in seeds {
        let start = ContinuousClock.now
        let algo = try await PPOConfig().environment("CartPole-v1").envRunners(2).evaluation(interval: 2, episodes: 10).debugging(seed: seed).build()
        var evaluated: (steps: Int, seconds: Double)?
        strict.append(try await run("ppo seed \(seed)", algo, maxSteps: 500_000) { result in
            if evaluated == nil, (result.evaluationReturnMean ?? 0) >= 475 {
                evaluated = (result.envStepsLifetime, seconds(since: start))
            }
            return evaluated != nil && result.episodeReturnMean >= 475
        })
        outcomes.append(evaluated)
    }
    summarize("PPO CartPole-v1", outcomes, target: "evaluation return >= 475")
    summarize("PPO CartPole-v1", strict, target: "training return mean (100 episodes) >= 475")
case "ppo-pendulum":
    var outcomes: [(steps: Int, seconds: Double)?] = []
    for seed in seeds {
        let algo = try await PPOConfig.pendulum.debugging(seed: seed).build()
        outcomes.append(try await run("ppo-pendulum seed \(seed)", algo, maxSteps: 2_000_000) { $0.episodeReturnMean > -300 })
    }
    summarize("PPO Pendulum-v1", outcomes, target: "return mean > -300")
case "dqn-cartpole":
    var outcomes: [(steps: Int, seconds: Double)?] = []
    for seed in seeds {
        let algo = try await DQNConfig().environment("CartPole-v1").evaluation(interval: 10, episodes: 10).debugging(seed: seed).build()
        outcomes.append(try await run("dqn seed \(seed)", algo, maxSteps: 200_000) { ($0.evaluationReturnMean ?? 0) >= 400 })
    }
    summarize("DQN CartPole-v1", outcomes, target: "evaluation return >= 400")
case "sample":
    // Env steps per second of 2 env runners sampling CartPole-v1, with 1 and 4 environments each.
    for copies in [1, 4] {
        let algo = try await PPOConfig().environment("CartPole-v1").envRunners(2, environmentsPerRunner: copies)
            .training(numEpochs: 0, rolloutFragmentLength: 16_384 / copies).build()
        _ = try await algo.train()
        var steps = 0, time = 0.0
        for _ in 0..<5 {
            let result = try await algo.train()
            steps += result.envSteps
            time += result.sampleSeconds
        }
        print(String(format: "RESULT sample 2 runners x %d envs: %.0f env steps/s", copies, Double(steps) / time))
        algo.stop()
    }
default:
    print("modes: ppo-cartpole, ppo-pendulum, dqn-cartpole, sample")
}
try await ray.shutdown()
