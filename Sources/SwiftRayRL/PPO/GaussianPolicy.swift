import Foundation
import SwiftRayNN

/// A diagonal Gaussian policy for box actions: the MLP gives the mean, a learned vector the log
/// standard deviations (state-independent, as RLlib's `free_log_std`).
enum GaussianPolicy {
    static let halfLogTwoPi = 0.5 * log(2 * Double.pi)

    /// log N(sample; mean, exp(logStd)), summed over dimensions.
    static func logProbability(_ sample: [Double], mean: some Collection<Double>, logStd: [Double]) -> Double {
        zip(zip(sample, mean), logStd).reduce(0) { total, item in
            let ((x, mu), logSigma) = item
            let z = (x - mu) / exp(logSigma)
            return total - 0.5 * z * z - logSigma - halfLogTwoPi
        }
    }

    /// PPO's loss for a minibatch and its gradients with respect to the means and the log
    /// standard deviations.
    static func clippedObjective(
        means: Matrix, actions: [[Float]], logStd: [Double], oldLogProbabilities: [Double], advantages: [Double], clip: Double,
        entropyCoefficient: Double
    ) -> (summary: ObjectiveSummary, meanGradient: Matrix, logStdGradient: [Double]) {
        var meanGradient = Matrix(rows: means.rows, columns: means.columns)
        var logStdGradient = logStd.map { _ in -entropyCoefficient }  // the entropy's slope is 1 per dimension
        var summary = ObjectiveSummary()
        let scale = 1 / Double(means.rows)
        let entropy = logStd.reduce(0) { $0 + $1 + 0.5 + halfLogTwoPi }
        for row in 0..<means.rows {
            let mean = means.values[row * means.columns..<(row + 1) * means.columns]
            let sample = actions[row].map(Double.init)
            let logP = logProbability(sample, mean: mean, logStd: logStd)
            let term = Surrogate(logProbability: logP, oldLogProbability: oldLogProbabilities[row], advantage: advantages[row], clip: clip)
            summary.loss += (term.loss - entropyCoefficient * entropy) * scale
            summary.kl += (oldLogProbabilities[row] - logP) * scale
            if term.isClipped { summary.clipped += scale }
            guard term.slope != 0 else { continue }
            for column in 0..<means.columns {
                let variance = exp(2 * logStd[column])
                let offset = sample[column] - mean[mean.startIndex + column]
                meanGradient[row, column] = term.slope * offset / variance * scale
                logStdGradient[column] += term.slope * (offset * offset / variance - 1) * scale
            }
        }
        return (summary, meanGradient, logStdGradient)
    }
}
