import SwiftRay

/// A labelled classification set: one row of features per sample.
public struct ClassificationData: Sendable, Codable, Equatable {
    public var features: Matrix
    public var labels: [Int]

    public var count: Int { labels.count }

    public init(features: Matrix, labels: [Int]) {
        precondition(features.rows == labels.count, "\(features.rows) rows, \(labels.count) labels")
        self.features = features
        self.labels = labels
    }

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

/// One labelled sample: the row form a dataset of rows (Train's `TrainDataset`) holds.
public struct LabeledSample: Sendable, Codable, Equatable {
    public var features: [Double]
    public var label: Int

    public init(features: [Double], label: Int) {
        self.features = features
        self.label = label
    }
}

extension ClassificationData {
    /// A set from its rows (all with one feature count).
    public init(samples: [LabeledSample]) {
        let columns = samples.first?.features.count ?? 0
        self.init(
            features: Matrix(rows: samples.count, columns: columns, values: samples.flatMap(\.features)),
            labels: samples.map(\.label))
    }

    /// Its rows.
    public var samples: [LabeledSample] {
        (0..<count).map { LabeledSample(features: features.row($0), label: labels[$0]) }
    }

    /// Gaussian blobs: `clustersPerClass` centres per class, drawn from a normal of deviation
    /// `spread`, and samples around them with deviation 1. Classes interleave in space (no line
    /// separates them), yet with the default spread a small MLP reaches over 99% test accuracy.
    public static func blobs(
        samples: Int, features: Int, classes: Int = 2, clustersPerClass: Int = 3, spread: Double = 1.0, seed: UInt64
    ) -> ClassificationData {
        var random = SeededRandom(seed: seed)
        let centres = (0..<classes * clustersPerClass).map { _ in (0..<features).map { _ in random.normal() * spread } }
        var values: [Double] = []
        values.reserveCapacity(samples * features)
        var labels: [Int] = []
        for _ in 0..<samples {
            let cluster = Int(random.next() % UInt64(centres.count))
            labels.append(cluster % classes)
            values += centres[cluster].map { $0 + random.normal() }
        }
        return ClassificationData(features: Matrix(rows: samples, columns: features, values: values), labels: labels)
    }
}
