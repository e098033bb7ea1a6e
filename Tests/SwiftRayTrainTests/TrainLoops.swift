import Foundation
import SwiftRay
import SwiftRayNN
import SwiftRayTrain
import SwiftRayTune

/// Plain SGD on a fixed sequence of global batches, each worker taking its contiguous part: the
/// parameters after each step are the checkpoint. Reports whether every rank holds the same ones.
struct ParityLoop: TrainLoop {
    static func train(_ context: TrainContext) async throws {
        let steps = context.config.int("steps") ?? 5, global = context.config.int("batch") ?? 128
        let data = ClassificationData.teacher(samples: steps * global, features: 8, seed: 11)
        var model = MLP(sizes: [8, 16, 2], seed: 3)
        var optimizer = SGD(learningRate: 0.1, parameterCount: model.parameterCount)
        let local = global / context.worldSize
        for step in 0..<steps {
            let start = step * global + context.worldRank * local
            let batch = data.slice(start..<start + local)
            var (_, gradients) = model.lossAndGradients(batch.features, labels: batch.labels)
            try await context.allreduce(&gradients, op: .mean)
            var parameters = model.parameters
            optimizer.step(&parameters, gradients: gradients)
            model.parameters = parameters
            let everyone = try await context.group.allgather(parameters)
            let identical = everyone.allSatisfy { $0 == parameters }
            try await context.report(["step": Double(step), "identical": identical ? 1 : 0], checkpoint: try Checkpoint(parameters))
        }
    }
}

/// Epochs of Adam on blobs with a checkpoint each; on a first attempt (no checkpoint to resume)
/// with `hang_after` set, every worker waits after that epoch's report until one is killed.
struct ResumableLoop: TrainLoop {
    struct State: Codable {
        var model: MLP
        var optimizer: Adam
        var epoch: Int
    }

    static func train(_ context: TrainContext) async throws {
        let data = ClassificationData.blobs(samples: 4_000, features: 8, seed: 5)
        let train = data.slice(0..<3_000).shard(rank: context.worldRank, worldSize: context.worldSize), test = data.slice(3_000..<4_000)
        let model = MLP(sizes: [8, 16, 2], seed: 9)
        var state = try context.checkpoint?.decode(State.self)
            ?? State(model: model, optimizer: Adam(learningRate: 0.01, parameterCount: model.parameterCount), epoch: 0)
        let epochs = context.config.int("epochs") ?? 4, batch = 50
        for epoch in state.epoch..<epochs {
            for step in 0..<(train.count / batch) {
                let minibatch = train.slice(step * batch..<(step + 1) * batch)
                var (_, gradients) = state.model.lossAndGradients(minibatch.features, labels: minibatch.labels)
                try await context.allreduce(&gradients, op: .mean)
                var parameters = state.model.parameters
                state.optimizer.step(&parameters, gradients: gradients)
                state.model.parameters = parameters
            }
            state.epoch = epoch + 1
            let accuracy = state.model.accuracy(test.features, labels: test.labels)
            try await context.report(
                ["epoch": Double(epoch + 1), "accuracy": accuracy, "resumed": context.checkpoint == nil ? 0 : 1,
                 "score": Double([3, 1, 4, 1, 5, 9][epoch % 6])],
                checkpoint: try Checkpoint(state))
            if context.checkpoint == nil, context.config.int("hang_after") == epoch + 1 {
                // Never yields and never ends: only killing a worker moves the run on.
                let (never, continuation) = AsyncStream<Int>.makeStream()
                for await _ in never {}
                continuation.finish()
            }
        }
    }
}

/// Reports the ranks and dataset shards every worker saw (gathered to rank 0).
struct LayoutLoop: TrainLoop {
    static func train(_ context: TrainContext) async throws {
        let shard = try await context.datasetShard("numbers", as: Int.self)
        let mine = [Double(context.worldRank), Double(context.localRank), Double(context.localWorldSize), Double(context.nodeRank),
                    Double(shard.count), Double(shard.first ?? -1), Double(shard.reduce(0, +))]
        let everyone = try await context.group.allgather(mine)
        var metrics: Metrics = ["world_size": Double(context.worldSize), "lr": context.config["lr"]]
        for (rank, values) in everyone.enumerated() {
            for (index, name) in ["rank", "local_rank", "local_size", "node_rank", "rows", "first", "sum"].enumerated() {
                metrics["\(rank).\(name)"] = values[index]
            }
        }
        try await context.report(metrics)
    }
}

/// Rank 1 reports once more than the others.
struct UnevenReportsLoop: TrainLoop {
    static func train(_ context: TrainContext) async throws {
        try await context.report(["round": 1])
        if context.worldRank == 1 { try await context.report(["round": 2]) }
    }
}

struct LoopFailure: Error, CustomStringConvertible {
    var description: String { "the loss became NaN on rank 0" }
}

/// Rank 0 throws its own error after one report; rank 1 goes on to its next collective.
struct FailingLoop: TrainLoop {
    static func train(_ context: TrainContext) async throws {
        try await context.report(["round": 1])
        if context.worldRank == 0 { throw LoopFailure() }
        try await context.report(["round": 2])
    }
}
