import SwiftRay

/// A labelled classification set: one row of features per sample.
public struct ClassificationData: Sendable, Codable, Equatable {
    public var features: Matrix
    public var labels: [Int]

    public var count: Int { labels.count }

    /// Samples `range` (for train/test splits and shards).
    public func slice(_ range: Range<Int>) -> ClassificationData {
        ClassificationData(features: features.rows(range), labels: Array(labels[range]))
    }

    /// Samples at `indices`, in that order (a mini-batch).
    public func batch(_ indices: some Collection<Int>) -> ClassificationData {
        ClassificationData(features: features.rows(indices), labels: indices.map { labels[$0] })
    }

    /// Worker `rank`'s share among `worldSize` workers (every `worldSize`-th sample from `rank`).
    public func shard(rank: Int, worldSize: Int) -> ClassificationData {
        batch(Array(stride(from: rank, to: count, by: worldSize)))
    }

    /// A set labelled by a random teacher network (`features`-16-`classes`, tanh): features drawn
    /// from a standard normal, each label the teacher's most likely class. A student MLP can learn it
    /// to well over 97% test accuracy; the same seed gives the same set everywhere.
    public static func teacher(samples: Int, features: Int, classes: Int = 2, seed: UInt64) -> ClassificationData {
        var random = SeededRandom(seed: seed)
        let teacher = MLP(sizes: [features, 16, classes], hidden: .tanh, seed: seed &+ 1)
        let x = Matrix(rows: samples, columns: features, values: (0..<samples * features).map { _ in random.normal() })
        return ClassificationData(features: x, labels: teacher.predict(x))
    }
}
