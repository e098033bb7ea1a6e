import Foundation
import SwiftRayNN

/// A categorical policy over an MLP's logits: sampling, log-probabilities, entropy, and the
/// gradients of PPO's clipped objective with respect to the logits.
enum CategoricalPolicy {
    /// Softmax of one row of logits.
    static func probabilities(_ logits: ArraySlice<Double>) -> [Double] {
        let top = logits.max() ?? 0
        let exps = logits.map { exp($0 - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    /// An action drawn from `probabilities`, and its log-probability.
    static func sample(_ probabilities: [Double], using random: inout some RandomNumberGenerator) -> (action: Int, logProbability: Double) {
        var draw = Double.random(in: 0..<1, using: &random)
        for (action, p) in probabilities.enumerated() {
            draw -= p
            if draw < 0 { return (action, log(max(p, 1e-12))) }
        }
        let last = probabilities.count - 1
        return (last, log(max(probabilities[last], 1e-12)))
    }

    /// PPO's loss for a minibatch (clipped surrogate minus the entropy bonus, both averaged) and
    /// its gradient with respect to the logits.
    static func clippedObjective(
        logits: Matrix, actions: [Int], oldLogProbabilities: [Double], advantages: [Double], clip: Double, entropyCoefficient: Double
    ) -> (summary: ObjectiveSummary, gradient: Matrix) {
        var gradient = Matrix(rows: logits.rows, columns: logits.columns)
        var summary = ObjectiveSummary()
        let scale = 1 / Double(logits.rows)
        for row in 0..<logits.rows {
            let p = probabilities(logits.values[row * logits.columns..<(row + 1) * logits.columns])
            let logP = p.map { log(max($0, 1e-12)) }
            let action = actions[row]
            let term = Surrogate(logProbability: logP[action], oldLogProbability: oldLogProbabilities[row], advantage: advantages[row], clip: clip)
            let entropy = -zip(p, logP).map { $0 * $1 }.reduce(0, +)
            summary.loss += (term.loss - entropyCoefficient * entropy) * scale
            summary.kl += (oldLogProbabilities[row] - logP[action]) * scale
            if term.isClipped { summary.clipped += scale }
            for column in 0..<logits.columns {
                let dLogP = (column == action ? 1 : 0) - p[column]
                let dEntropy = -p[column] * (logP[column] + entropy)
                gradient[row, column] = (term.slope * dLogP - entropyCoefficient * dEntropy) * scale
            }
        }
        return (summary, gradient)
    }
}
