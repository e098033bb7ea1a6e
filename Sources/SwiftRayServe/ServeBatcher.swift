/// Gathers concurrent calls into one call on an array and hands each caller its result (Ray's
/// `@serve.batch`): a batch runs when `maxBatchSize` calls wait or `batchWaitTimeout` after the
/// first, one batch at a time. Keep one in a deployment's replica:
///
/// ```swift
/// @RayActor
/// distributed actor Embedder: Deployment {
///     let batcher = ServeBatcher<String, [Double]>(maxBatchSize: 16) { texts in model.embed(texts) }
///     distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
///         try .json(await batcher.call(request.text))
///     }
/// }
/// ```
public actor ServeBatcher<Input: Sendable, Output: Sendable> {
    public let maxBatchSize: Int
    public let batchWaitTimeout: Duration
    private let handler: @Sendable ([Input]) async throws -> [Output]
    private var pending: [(input: Input, caller: CheckedContinuation<Output, any Error>)] = []
    private var running = false
    private var timer: Task<Void, Never>?

    public init(
        maxBatchSize: Int = 10, batchWaitTimeout: Duration = .milliseconds(10), _ handler: @escaping @Sendable ([Input]) async throws -> [Output]
    ) {
        self.maxBatchSize = max(maxBatchSize, 1)
        self.batchWaitTimeout = batchWaitTimeout
        self.handler = handler
    }

    /// `input`'s result, computed in a batch with other calls.
    /// - Throws: the handler's error (every call of the batch gets it), or `BatchSizeMismatch`
    ///   when it returned a different number of results than inputs.
    public func call(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { caller in
            pending.append((input, caller))
            schedule()
        }
    }

    /// Runs a batch now when one is full, else once the first waiting call has waited enough.
    private func schedule() {
        guard !running, !pending.isEmpty else { return }
        if pending.count >= maxBatchSize {
            timer?.cancel()
            timer = nil
            running = true
            Task { await self.runBatch() }
        } else if timer == nil {
            let wait = batchWaitTimeout
            timer = Task {
                guard (try? await Task.sleep(for: wait)) != nil else { return }
                self.timerFired()
            }
        }
    }

    private func timerFired() {
        timer = nil
        guard !running, !pending.isEmpty else { return }
        running = true
        Task { await self.runBatch() }
    }

    private func runBatch() async {
        let batch = Array(pending.prefix(maxBatchSize))
        pending.removeFirst(batch.count)
        do {
            let outputs = try await handler(batch.map(\.input))
            guard outputs.count == batch.count else { throw BatchSizeMismatch(inputs: batch.count, outputs: outputs.count) }
            for (entry, output) in zip(batch, outputs) { entry.caller.resume(returning: output) }
        } catch {
            for entry in batch { entry.caller.resume(throwing: error) }
        }
        running = false
        schedule()
    }
}

/// A batch handler returned a different number of results than it was given inputs.
public struct BatchSizeMismatch: Error, CustomStringConvertible {
    public let inputs: Int
    public let outputs: Int
    public var description: String { "the batch handler returned \(outputs) results for \(inputs) inputs" }
}
