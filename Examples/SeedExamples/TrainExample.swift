import Foundation
import SwiftRay
import SwiftRayNN
import SwiftRayTrain
import SwiftRayTune

/// The seed's Ray Train example in Swift: an MLP classifier trained data-parallel, each worker on
/// its shard, gradients averaged over the workers' collective group every step, a checkpoint
/// per epoch. `config`: `epochs` (5), `batch_size` (global, 128), `lr` (0.001), `hidden` (64).
struct BlobClassifier: TrainLoop {
    /// What a checkpoint holds: enough to continue exactly where it was taken.
    struct State: Codable {
        var model: MLP
        var optimizer: Adam
        var epoch: Int
    }

    static func train(_ context: TrainContext) async throws {
        let started = ContinuousClock.now
        let shard = ClassificationData(samples: try await context.datasetShard("train", as: LabeledSample.self))
        let test = ClassificationData(samples: try await context.datasetShard("test", as: LabeledSample.self))
        let epochs = context.config.int("epochs") ?? 5
        let batch = (context.config.int("batch_size") ?? 128) / context.worldSize
        var state = try context.checkpoint?.decode(State.self) ?? fresh(context.config, features: shard.features.columns)
        // Every worker takes the same number of steps: the smallest shard decides.
        var steps = [Double(shard.count / batch)]
        try await context.allreduce(&steps, op: .min)
        let loaded = ContinuousClock.now
        for epoch in state.epoch..<epochs {
            var random = SeededRandom(seed: UInt64(epoch * 1_000 + context.worldRank))
            let order = Array(0..<shard.count).shuffled(using: &random)
            var loss = 0.0
            for step in 0..<Int(steps[0]) {
                let minibatch = shard.batch(order[step * batch..<(step + 1) * batch])
                var (batchLoss, gradients) = state.model.lossAndGradients(minibatch.features, labels: minibatch.labels)
                try await context.allreduce(&gradients, op: .mean)
                var parameters = state.model.parameters
                state.optimizer.step(&parameters, gradients: gradients)
                state.model.parameters = parameters
                loss += batchLoss
            }
            // Test accuracy over every worker's test shard.
            var correct = [state.model.accuracy(test.features, labels: test.labels) * Double(test.count), Double(test.count)]
            try await context.allreduce(&correct, op: .sum)
            state.epoch = epoch + 1
            try await context.report(
                ["epoch": Double(epoch + 1), "loss": loss / steps[0], "accuracy": correct[0] / correct[1],
                 "data_seconds": seconds(loaded - started), "train_seconds": seconds(ContinuousClock.now - loaded),
                 "samples": Double(Int(steps[0]) * batch * context.worldSize * (epoch + 1))],
                checkpoint: try Checkpoint(state))
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func fresh(_ config: TrialConfig, features: Int) -> State {
        let model = MLP(sizes: [features, config.int("hidden") ?? 64, 2], seed: 42)
        let rate = config.value("lr")?.double ?? 1e-3
        return State(model: model, optimizer: Adam(learningRate: rate, parameterCount: model.parameterCount), epoch: 0)
    }

    /// The seed's shape: `ScalingConfig(numWorkers:)` around the loop, then `fit()`.
    static func run(workers: Int, samples: Int = 60_000, epochs: Int = 5) async throws -> TrainResult {
        let data = ClassificationData.blobs(samples: samples + 10_000, features: 32, seed: 7)
        let trainer = DataParallelTrainer(
            BlobClassifier.self, config: TrialConfig(["epochs": .int(epochs), "batch_size": .int(128)]),
            scaling: ScalingConfig(numWorkers: workers),
            datasets: ["train": try TrainDataset(data.slice(0..<samples).samples),
                       "test": try TrainDataset(data.slice(samples..<samples + 10_000).samples)])
        return try await trainer.fit()
    }
}
