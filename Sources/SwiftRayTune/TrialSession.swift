import Foundation
import SwiftRay
import Synchronization

/// A trial's saved state: bytes the trainable writes with a report and reads back when the trial
/// resumes (Ray's `Checkpoint`). It travels as part of the report, an object in the cluster, so no
/// shared filesystem is needed.
public struct Checkpoint: Codable, Sendable, Hashable {
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
    private let handoff: ReportHandoff
    private let reports = Mutex(0)

    init(config: TrialConfig, handoff: ReportHandoff) {
        self.config = config
        self.handoff = handoff
        reports.withLock { $0 = config.restored?.iteration ?? 0 }
    }

    /// Reports made so far (counting those before the checkpoint a restarted trial resumes from).
    public var iteration: Int { reports.withLock { $0 } }

    /// The checkpoint to resume from when the trial restarted after a failure (Ray's
    /// `get_checkpoint()`); nil on a first run. Iterations then count on from it.
    public var checkpoint: Checkpoint? { config.restored?.checkpoint }

    /// Reports this iteration's metrics (and a checkpoint), returning once the report is on its
    /// way to the Tuner (so a trial never runs ahead of what it reported). Throws
    /// `CancellationError` once the trial is stopped (by its scheduler, a stopper, or the
    /// experiment ending), so the training loop ends there.
    public func report(_ metrics: Metrics, checkpoint: Checkpoint? = nil) async throws {
        try Task.checkCancellation()
        let iteration = reports.withLock { count in
            count += 1
            return count
        }
        var metrics = metrics
        metrics["training_iteration"] = Double(iteration)
        try await handoff.put(TrialReport(metrics: metrics, checkpoint: checkpoint))
    }
}

/// Hands each report from the training body to the stream's consumer one at a time: `put`
/// returns once `take` has it.
final class ReportHandoff: Sendable {
    private struct State {
        var pending: (report: TrialReport, putter: CheckedContinuation<Void, any Error>)?
        var taker: CheckedContinuation<TrialReport?, any Error>?
        var end: Result<Void, any Error>?
    }

    private let state = Mutex(State())

    func put(_ report: TrialReport) async throws {
        try await withCheckedThrowingContinuation { (putter: CheckedContinuation<Void, any Error>) in
            enum Action { case handed(CheckedContinuation<TrialReport?, any Error>), ended, waiting }
            let action: Action = state.withLock { state in
                if state.end != nil { return .ended }
                if let taker = state.taker {
                    state.taker = nil
                    return .handed(taker)
                }
                state.pending = (report, putter)
                return .waiting
            }
            switch action {
            case .handed(let taker):
                taker.resume(returning: report)
                putter.resume()
            case .ended:
                putter.resume(throwing: CancellationError())
            case .waiting:
                break
            }
        }
    }

    func take() async throws -> TrialReport? {
        try await withCheckedThrowingContinuation { (taker: CheckedContinuation<TrialReport?, any Error>) in
            enum Action { case report(TrialReport, CheckedContinuation<Void, any Error>), end(Result<Void, any Error>), waiting }
            let action: Action = state.withLock { state in
                if let pending = state.pending {
                    state.pending = nil
                    return .report(pending.report, pending.putter)
                }
                if let end = state.end { return .end(end) }
                state.taker = taker
                return .waiting
            }
            switch action {
            case .report(let report, let putter):
                putter.resume()
                taker.resume(returning: report)
            case .end(.success):
                taker.resume(returning: nil)
            case .end(.failure(let error)):
                taker.resume(throwing: error)
            case .waiting:
                break
            }
        }
    }

    /// The body ended (or the consumer went away): a waiting `take` gets the end, a waiting
    /// `put` is cancelled.
    func finish(_ result: Result<Void, any Error>) {
        let (taker, putter) = state.withLock { state -> (CheckedContinuation<TrialReport?, any Error>?, CheckedContinuation<Void, any Error>?) in
            guard state.end == nil else { return (nil, nil) }
            state.end = result
            defer {
                state.taker = nil
                state.pending = nil
            }
            return (state.taker, state.pending?.putter)
        }
        putter?.resume(throwing: CancellationError())
        switch result {
        case .success: taker?.resume(returning: nil)
        case .failure(let error): taker?.resume(throwing: error)
        }
    }
}

/// Runs `onEnd` when the last reference goes (the stream's consumer let go of it).
final class EndOfUse: Sendable {
    private let onEnd: @Sendable () -> Void
    init(_ onEnd: @escaping @Sendable () -> Void) { self.onEnd = onEnd }
    deinit { onEnd() }
}

extension AsyncThrowingStream where Element == TrialReport, Failure == any Error {
    /// A reporting trainable's result: `body` trains and calls `session.report(...)` each
    /// iteration; each report reaches the Tuner while the trial runs (a streaming task), and the
    /// body waits at each report until it is taken.
    ///
    /// ```swift
    /// @Remote func train(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    ///     .trial(config) { session in
    ///         for step in 1...100 { try await session.report(["loss": 1 / Double(step)]) }
    ///     }
    /// }
    /// ```
    public static func trial(_ config: TrialConfig, _ body: @escaping @Sendable (TrialSession) async throws -> Void) -> Self {
        let handoff = ReportHandoff()
        let session = TrialSession(config: config, handoff: handoff)
        let task = Task {
            do {
                try await body(session)
                handoff.finish(.success(()))
            } catch {
                handoff.finish(.failure(error))
            }
        }
        // When the stream is let go of (the trial stopped), the body is cancelled.
        let end = EndOfUse {
            task.cancel()
            handoff.finish(.failure(CancellationError()))
        }
        return AsyncThrowingStream(unfolding: {
            withExtendedLifetime(end) {}
            return try await handoff.take()
        })
    }
}
