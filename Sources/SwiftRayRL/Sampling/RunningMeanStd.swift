import Foundation

/// A running mean and variance per dimension (Welford, merged batch by batch): RLlib's
/// `MeanStdFilter` for observations, and the scale of rewards.
public struct RunningMeanStd: Sendable, Codable, Equatable {
    public private(set) var count: Double = 0
    public private(set) var mean: [Double]
    private var squares: [Double]
    /// Normalised values are clipped to ±this (RLlib's filter clips at 10).
    public var clip: Double

    /// Statistics of `dimensions`-long rows, nothing seen yet.
    public init(dimensions: Int, clip: Double = 10) {
        mean = Array(repeating: 0, count: dimensions)
        squares = Array(repeating: 0, count: dimensions)
        self.clip = clip
    }

    /// The standard deviation per dimension (1 before any value was seen).
    public var std: [Double] {
        squares.map { count > 1 ? max(($0 / count).squareRoot(), 1e-8) : 1 }
    }

    /// Folds `rows` in (Chan et al.'s parallel update, so batches merge exactly).
    public mutating func update(_ rows: [[Double]]) {
        guard !rows.isEmpty else { return }
        let n = Double(rows.count)
        for dimension in mean.indices {
            let batchMean = rows.reduce(0) { $0 + $1[dimension] } / n
            let batchSquares = rows.reduce(0) { $0 + ($1[dimension] - batchMean) * ($1[dimension] - batchMean) }
            let delta = batchMean - mean[dimension], total = count + n
            mean[dimension] += delta * n / total
            squares[dimension] += batchSquares + delta * delta * count * n / total
        }
        count += n
    }

    /// `row` shifted by the mean, scaled by the deviation, clipped.
    public func normalize(_ row: [Float]) -> [Double] {
        let deviation = std
        return row.indices.map { min(max((Double(row[$0]) - mean[$0]) / deviation[$0], -clip), clip) }
    }
}
