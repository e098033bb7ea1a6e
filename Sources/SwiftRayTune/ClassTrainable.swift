/// A class trainable (Ray's `tune.Trainable`): set up from the trial's configuration, stepped once
/// per iteration, saved to and restored from checkpoints. Run it from a remote function:
///
/// ```swift
/// struct Model: ClassTrainable {
///     var weight: Double
///     init(config: TrialConfig) { weight = config["init"] }
///     mutating func step() -> Metrics { weight *= 0.9; return ["loss": weight] }
///     func save() throws -> Checkpoint { try Checkpoint(weight) }
///     mutating func restore(from checkpoint: Checkpoint) throws { weight = try checkpoint.decode(Double.self) }
/// }
///
/// @Remote func trainModel(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
///     .trial(config, Model.self, checkpointEvery: 5)
/// }
/// ```
public protocol ClassTrainable: Sendable {
    /// Ray's `setup(config)`.
    init(config: TrialConfig) async throws
    /// One iteration; its metrics are reported.
    mutating func step() async throws -> Metrics
    /// The state to resume from (Ray's `save_checkpoint`).
    func save() throws -> Checkpoint
    /// Ray's `load_checkpoint`: back to a saved state.
    mutating func restore(from checkpoint: Checkpoint) throws
}

extension AsyncThrowingStream where Element == TrialReport, Failure == any Error {
    /// Runs a class trainable: set up (restored from the trial's checkpoint when it restarts),
    /// then stepped and reported until stopped, or `maxIterations` reports; saved every
    /// `checkpointEvery` iterations (0: never).
    public static func trial<T: ClassTrainable>(
        _ config: TrialConfig, _ type: T.Type, checkpointEvery: Int = 1, maxIterations: Int? = nil
    ) -> Self {
        .trial(config) { session in
            var trainable = try await T(config: session.config)
            if let checkpoint = session.checkpoint { try trainable.restore(from: checkpoint) }
            while maxIterations.map({ session.iteration < $0 }) ?? true {
                let metrics = try await trainable.step()
                let iteration = session.iteration + 1
                let checkpoint = checkpointEvery > 0 && iteration % checkpointEvery == 0 ? try trainable.save() : nil
                try await session.report(metrics, checkpoint: checkpoint)
            }
        }
    }
}
