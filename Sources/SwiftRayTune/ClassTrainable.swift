import SwiftRay
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

/// A class trainable's type could not be found in the worker's binary.
public struct TrainableNotFound: Error, CustomStringConvertible {
    public let typeName: String
    public var description: String { "no ClassTrainable type \(typeName) in this binary" }
}

/// Runs the class trainable named `typeName` (its mangled name): the task behind
/// `Tuner(Model.self, ...)`. The worker runs the same binary as the driver, so it finds the type.
@Remote func runClassTrainable(
    _ typeName: String, _ config: TrialConfig, _ checkpointEvery: Int, _ maxIterations: Int?
) -> AsyncThrowingStream<TrialReport, any Error> {
    guard let type = _typeByName(typeName) as? any ClassTrainable.Type else {
        return AsyncThrowingStream { $0.finish(throwing: TrainableNotFound(typeName: typeName)) }
    }
    return trial(of: type, config, checkpointEvery, maxIterations)
}

private func trial<T: ClassTrainable>(of type: T.Type, _ config: TrialConfig, _ checkpointEvery: Int, _ maxIterations: Int?)
    -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config, type, checkpointEvery: checkpointEvery, maxIterations: maxIterations)
}

extension Tuner {
    /// A Tuner of a class trainable given by its type (Ray's `Tuner(MyTrainable, ...)`): each trial
    /// is a task stepping a `T` until a scheduler or stopper ends it (or `maxIterations`), saved
    /// every `checkpointEvery` iterations (0: never), with `numCPUs`, `numGPUs` and `resources`
    /// per trial. No remote function of your own is needed.
    public init<T: ClassTrainable>(
        _ type: T.Type, checkpointEvery: Int = 1, maxIterations: Int? = nil, numCPUs: Double = 1, numGPUs: Double = 0,
        resources: [String: Double] = [:], paramSpace: [String: Domain] = [:], tuneConfig: TuneConfig = TuneConfig(),
        name: String = "trial"
    ) {
        let typeName = _mangledTypeName(T.self) ?? "\(T.self)"
        let function = $runClassTrainable.options(
            numCPUs: numCPUs, numGPUs: numGPUs, resources: resources, generatorBackpressure: 1)
        self.init({ config in function.remote(typeName, config, checkpointEvery, maxIterations) }, paramSpace: paramSpace,
                  tuneConfig: tuneConfig, name: name)
    }
}
