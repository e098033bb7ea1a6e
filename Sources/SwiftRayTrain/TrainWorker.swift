import Foundation
import SwiftRay
import SwiftRayCollective
import SwiftRayTune

/// What one worker is told to run.
struct WorkerSpec: Codable, Sendable {
    var loopType: String
    var runName: String
    var group: String
    var rank: Int
    var worldSize: Int
    var localRank: Int
    var localWorldSize: Int
    var nodeRank: Int
    var config: TrialConfig
    var checkpoint: Checkpoint?
    var datasets: [String: TrainDataset]
}

/// A training worker (Ray's `RayTrainWorker`): an actor whose process joins the run's collective
/// group and runs the loop, streaming rank 0's reports to the trainer as they happen.
@RayActor
distributed actor TrainWorker {
    /// The node this worker runs on (the trainer orders ranks by node).
    distributed func nodeID() -> String { ray.runtimeContext.nodeID }

    /// Runs the loop to its end; the stream carries rank 0's reports and ends with the loop.
    func run(_ spec: WorkerSpec) -> AsyncThrowingStream<TrialReport, any Error> {
        AsyncThrowingStream { continuation in
            // Detached: the loop is the worker's whole job and needs nothing of the actor's
            // isolation, so it runs off the actor's executor.
            let task = Task.detached {
                do {
                    try await TrainWorker.execute(spec, reports: continuation)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private static func execute(_ spec: WorkerSpec, reports: AsyncThrowingStream<TrialReport, any Error>.Continuation) async throws {
        guard let loop = _typeByName(spec.loopType) as? any TrainLoop.Type else { throw TrainError.loopNotFound(spec.loopType) }
        let group = try await CollectiveGroup.join(spec.group, rank: spec.rank, worldSize: spec.worldSize, timeout: .seconds(120))
        // Leaving closes the links either way, so a failed worker fails the others' next step.
        defer { group.destroy() }
        let context = TrainContext(spec: spec, group: group, reports: reports)
        try await loop.train(context)
        try await context.agree(on: .finish, count: context.reported)
    }
}
