import Foundation
import SwiftRay
import SwiftRayTune

/// One Tune trial of an algorithm: its configuration (JSON, of the type named `configType`)
/// with the trial's values applied, built in this task and trained an iteration per report.
@Remote func runAlgorithmTrial(
    _ configType: String, _ configJSON: [UInt8], _ trial: TrialConfig, _ checkpointEvery: Int, _ maxIterations: Int?
) -> AsyncThrowingStream<TrialReport, any Error> {
    guard let type = _typeByName(configType) as? any AlgorithmConfig.Type else {
        return AsyncThrowingStream { $0.finish(throwing: EnvironmentError.unknown(configType)) }
    }
    do {
        return algorithmTrial(try JSONDecoder().decode(type, from: Data(configJSON)), trial, checkpointEvery, maxIterations)
    } catch {
        return AsyncThrowingStream { $0.finish(throwing: error) }
    }
}

private func algorithmTrial<C: AlgorithmConfig>(_ config: C, _ trial: TrialConfig, _ checkpointEvery: Int, _ maxIterations: Int?)
    -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(trial) { session in
        let algorithm = try await config.applying(session.config).build()
        defer { algorithm.stop() }
        if let checkpoint = session.checkpoint { try algorithm.load(checkpoint.decode(C.Built.State.self)) }
        while maxIterations.map({ session.iteration < $0 }) ?? true {
            let result = try await algorithm.train()
            let iteration = session.iteration + 1
            let checkpoint = checkpointEvery > 0 && iteration % checkpointEvery == 0 ? try Checkpoint(algorithm.state()) : nil
            try await session.report(result.metrics, checkpoint: checkpoint)
        }
    }
}

extension Tuner {
    /// A Tuner of an RL algorithm (RLlib's `Tuner("PPO", param_space=config)`): each trial builds
    /// `config` with its sampled values applied (RLlib's keys: `lr`, `gamma`, ...), trains it an
    /// iteration per report (metrics under RLlib's keys, `episode_return_mean` among them) until a
    /// scheduler or stopper ends it or `maxIterations`, saving it every `checkpointEvery`
    /// iterations (0: never). The trial's task (the learner) holds `numCPUs`; env runners hold none.
    public init<C: AlgorithmConfig>(
        _ config: C, paramSpace: [String: Domain] = [:], checkpointEvery: Int = 0, maxIterations: Int? = nil, numCPUs: Double = 1,
        tuneConfig: TuneConfig = TuneConfig(), name: String = "rl"
    ) throws {
        let typeName = _mangledTypeName(C.self) ?? "\(C.self)"
        let json = Array(try JSONEncoder().encode(config))
        let function = $runAlgorithmTrial.options(numCPUs: numCPUs, generatorBackpressure: 1)
        self.init({ trial in function.remote(typeName, json, trial, checkpointEvery, maxIterations) }, paramSpace: paramSpace,
                  tuneConfig: tuneConfig, name: name)
    }
}
