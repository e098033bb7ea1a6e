import SwiftRay
import SwiftRayTune

/// What a Tune trial needs to build its trainer inside its task.
struct TrainerSpec: Codable, Sendable {
    var loopType: String
    var config: TrialConfig
    var scaling: ScalingConfig
    var datasets: [String: TrainDataset]
    var name: String
    var maxFailures: Int
}

/// One Tune trial of a trainer: the trainer, its loop's config overridden by the trial's, fitted
/// in this task, each report forwarded to Tune as it comes. A trial Tune stops is cancelled,
/// which stops the trainer's workers.
@Remote func runTrainerTrial(_ spec: TrainerSpec, _ trial: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    AsyncThrowingStream { continuation in
        let task = Task.detached {
            do {
                var config = spec.config
                config.values.merge(trial.values) { $1 }
                let trainer = DataParallelTrainer(
                    loopType: spec.loopType, config: config, scaling: spec.scaling,
                    run: RunConfig(name: spec.name, failureConfig: FailureConfig(maxFailures: spec.maxFailures)),
                    datasets: spec.datasets, resumeFromCheckpoint: trial.restored?.checkpoint)
                _ = try await trainer.fit { report in continuation.yield(report) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
    }
}

extension Tuner {
    /// A Tuner whose trials each fit `trainer` (Ray's `Tuner(trainer, param_space=...)`): a
    /// trial's sampled values override the trainer's loop config, every report reaches Tune's
    /// schedulers and stoppers, checkpoints are kept by Tune, and a restored trial resumes from
    /// its checkpoint. The trial's task holds no CPU; each trainer reserves its workers' bundles.
    public init(
        _ trainer: DataParallelTrainer, paramSpace: [String: Domain] = [:], tuneConfig: TuneConfig = TuneConfig(), name: String = "train"
    ) {
        let spec = TrainerSpec(
            loopType: trainer.loopType, config: trainer.config, scaling: trainer.scaling, datasets: trainer.datasets,
            name: trainer.run.name, maxFailures: trainer.run.failureConfig.maxFailures)
        let function = $runTrainerTrial.options(numCPUs: 0, generatorBackpressure: 1)
        self.init({ trial in function.remote(spec, trial) }, paramSpace: paramSpace, tuneConfig: tuneConfig, name: name)
    }
}
