import Foundation
import Logging
import SwiftRay
import SwiftRayNN

/// An algorithm's env runners: started together, asked to sample or evaluate in parallel, and a
/// runner that dies replaced by a fresh one while the iteration goes on with the others' samples.
final class RunnerGroup: @unchecked Sendable {
    private let environment: String
    private let copies: Int
    private let policySizes: [Int]
    private let activation: Activation
    private let options: ActorOptions
    private let seed: UInt64
    private var runners: [EnvRunner] = []
    private var started = 0
    private let logger = Logger(label: "swiftray.rl")

    init(environment: String, count: Int, copies: Int, policySizes: [Int], activation: Activation, options: ActorOptions, seed: UInt64) async throws {
        self.environment = environment
        self.copies = copies
        self.policySizes = policySizes
        self.activation = activation
        self.options = options
        self.seed = seed
        for _ in 0..<count { runners.append(try await start()) }
    }

    var count: Int { runners.count }

    /// A new runner; each gets its own seed, so a replacement does not repeat its predecessor.
    private func start() async throws -> EnvRunner {
        defer { started += 1 }
        return try await EnvRunner.create(
            environment: environment, copies: copies, policySizes: policySizes, activation: activation, seed: seed &+ UInt64(started * 1_000),
            options: options)
    }

    /// `steps` steps per copy from every runner with `policy` (put in the object store once).
    /// Returns the batches of the runners that lived, and how many were replaced.
    /// - Throws: `AlgorithmError.noSamples` when none lived; an environment's own error as is.
    func sample(_ policy: RunnerPolicy, steps: Int) async throws -> (batches: [SampleBatch], replaced: Int) {
        let shared = try ray.put(policy)
        let refs = runners.map { $0.remote.sample(policy: shared, steps: steps) }
        let outcome = try await gather(refs)
        guard !outcome.values.isEmpty else { throw AlgorithmError.noSamples }
        return (outcome.values, outcome.replaced)
    }

    /// `episodes` greedy episodes split over the runners; their returns.
    func evaluate(_ policy: RunnerPolicy, episodes: Int, seed: UInt64) async throws -> [Double] {
        let shared = try ray.put(policy)
        let share = (episodes + runners.count - 1) / runners.count
        let refs = runners.enumerated().map { index, runner in
            runner.remote.evaluate(policy: shared, episodes: share, seed: seed &+ UInt64(index * share))
        }
        return try await gather(refs).values.flatMap { $0 }
    }

    /// Each runner's answer; a runner that died is replaced and left out.
    private func gather<T: Codable & Sendable>(_ refs: [ObjectRef<T>]) async throws -> (values: [T], replaced: Int) {
        var values: [T] = [], replaced = 0
        for (index, ref) in refs.enumerated() {
            do {
                values.append(try await ref.get())
            } catch let error as ActorDiedError {
                logger.warning("env runner \(index) died (\(error.message)); starting a replacement")
                try? ray.kill(runners[index])
                runners[index] = try await start()
                replaced += 1
            }
        }
        return (values, replaced)
    }

    /// Kills runner `index` (for tests of replacement).
    func kill(_ index: Int) throws { try ray.kill(runners[index]) }

    func stop() {
        for runner in runners { try? ray.kill(runner) }
        runners = []
    }
}
