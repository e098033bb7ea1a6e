import Foundation
import SwiftRay

/// A trial's saved state: bytes the trainable writes with a report and reads back when the trial
/// resumes (Ray's `Checkpoint`). It travels as part of the report, an object in the cluster, so no
/// shared filesystem is needed.
public struct Checkpoint: Codable, Sendable, Equatable {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// A checkpoint holding `value` (JSON).
    public init<T: Encodable>(_ value: T) throws {
        bytes = Array(try JSONEncoder().encode(value))
    }

    /// The value it holds.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}

/// One report of a running trial: its metrics now (with `training_iteration`, counted from 1, as
/// Ray adds it), and a checkpoint if it saved one.
public struct TrialReport: Codable, Sendable {
    public var metrics: Metrics
    public var checkpoint: Checkpoint?

    public init(metrics: Metrics, checkpoint: Checkpoint? = nil) {
        self.metrics = metrics
        self.checkpoint = checkpoint
    }
}

/// What a reporting trainable reports through (Ray's `tune.report` and `get_checkpoint`).
public final class TrialSession: Sendable {
    /// The trial's configuration.
    public let config: TrialConfig
    private let continuation: AsyncThrowingStream<TrialReport, any Error>.Continuation
    private let reports = Mutex(0)

    init(config: TrialConfig, continuation: AsyncThrowingStream<TrialReport, any Error>.Continuation) {
        self.config = config
        self.continuation = continuation
    }

    /// Reports made so far.
    public var iteration: Int { reports.withLock { $0 } }

    /// Reports this iteration's metrics (and a checkpoint). Throws `CancellationError` once the
    /// trial is stopped (by its scheduler, a stopper, or the experiment ending), so the training
    /// loop ends there.
    public func report(_ metrics: Metrics, checkpoint: Checkpoint? = nil) async throws {
        try Task.checkCancellation()
        let iteration = reports.withLock { count in
            count += 1
            return count
        }
        var metrics = metrics
        metrics["training_iteration"] = Double(iteration)
        continuation.yield(TrialReport(metrics: metrics, checkpoint: checkpoint))
        await Task.yield()
    }
}

import Synchronization

extension AsyncThrowingStream where Element == TrialReport, Failure == any Error {
    /// A reporting trainable's result: `body` trains and calls `session.report(...)` each
    /// iteration; each report reaches the Tuner while the trial runs (a streaming task).
    ///
    /// ```swift
    /// @Remote func train(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    ///     .trial(config) { session in
    ///         for step in 1...100 { try await session.report(["loss": 1 / Double(step)]) }
    ///     }
    /// }
    /// ```
    public static func trial(_ config: TrialConfig, _ body: @escaping @Sendable (TrialSession) async throws -> Void) -> Self {
        AsyncThrowingStream { continuation in
            let session = TrialSession(config: config, continuation: continuation)
            let task = Task {
                do {
                    try await body(session)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
