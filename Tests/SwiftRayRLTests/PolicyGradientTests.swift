@testable import SwiftRayRL
import SwiftRayNN
import XCTest

/// The hand-written gradients of PPO's objectives against finite differences, and the
/// observation filter against a direct mean and deviation.
final class PolicyGradientTests: XCTestCase {
    private let advantages = [1.3, -0.7, 0.4], old = [-0.9, -1.4, -0.2]

    func testCategoricalObjectiveGradientMatchesFiniteDifferences() {
        let logits = Matrix(rows: 3, columns: 3, values: [0.2, -0.5, 0.9, 1.1, 0.3, -0.2, -0.4, 0.8, 0.1])
        let actions = [2, 0, 1]
        func loss(_ m: Matrix) -> Double {
            CategoricalPolicy.clippedObjective(logits: m, actions: actions, oldLogProbabilities: old, advantages: advantages, clip: 0.2,
                                               entropyCoefficient: 0.05).summary.loss
        }
        let analytic = CategoricalPolicy.clippedObjective(
            logits: logits, actions: actions, oldLogProbabilities: old, advantages: advantages, clip: 0.2, entropyCoefficient: 0.05).gradient
        for index in logits.values.indices {
            XCTAssertEqual(analytic.values[index], numericSlope(loss, logits, index), accuracy: 1e-6, "logit \(index)")
        }
    }

    func testGaussianObjectiveGradientsMatchFiniteDifferences() {
        let means = Matrix(rows: 3, columns: 2, values: [0.1, -0.3, 0.5, 0.2, -0.6, 0.4])
        let actions: [[Float]] = [[0.4, -0.1], [0.2, 0.9], [-1.0, 0.0]]
        let logStd = [-0.2, 0.3]
        func objective(_ m: Matrix, _ s: [Double]) -> (summary: ObjectiveSummary, meanGradient: Matrix, logStdGradient: [Double]) {
            GaussianPolicy.clippedObjective(means: m, actions: actions, logStd: s, oldLogProbabilities: old, advantages: advantages,
                                            clip: 0.2, entropyCoefficient: 0.01)
        }
        let analytic = objective(means, logStd)
        for index in means.values.indices {
            XCTAssertEqual(analytic.meanGradient.values[index], numericSlope({ objective($0, logStd).summary.loss }, means, index),
                           accuracy: 1e-6, "mean \(index)")
        }
        for dimension in logStd.indices {
            let h = 1e-6
            var up = logStd, down = logStd
            up[dimension] += h
            down[dimension] -= h
            let numeric = (objective(means, up).summary.loss - objective(means, down).summary.loss) / (2 * h)
            XCTAssertEqual(analytic.logStdGradient[dimension], numeric, accuracy: 1e-6, "log std \(dimension)")
        }
    }

    func testGaussianLogProbabilityIsTheNormalDensity() {
        let value = GaussianPolicy.logProbability([0.5], mean: [0.0], logStd: [log(2.0)])
        XCTAssertEqual(value, log(1 / (2 * (2 * Double.pi).squareRoot()) * exp(-0.5 * 0.0625)), accuracy: 1e-12)
    }

    func testRunningMeanStdMergesBatchesExactly() {
        let rows: [[Double]] = (0..<50).map { [Double($0), Double($0 * $0) / 10] }
        var filter = RunningMeanStd(dimensions: 2)
        filter.update(Array(rows[..<17]))
        filter.update(Array(rows[17...]))
        for dimension in 0..<2 {
            let column = rows.map { $0[dimension] }
            let mean = column.reduce(0, +) / 50
            let deviation = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 50).squareRoot()
            XCTAssertEqual(filter.mean[dimension], mean, accuracy: 1e-9)
            XCTAssertEqual(filter.std[dimension], deviation, accuracy: 1e-9)
        }
        let normalized = filter.normalize([1e6, 0])
        XCTAssertEqual(normalized[0], 10, "clipped at 10")
    }

    private func numericSlope(_ f: (Matrix) -> Double, _ m: Matrix, _ index: Int) -> Double {
        let h = 1e-6
        var up = m, down = m
        up.values[index] += h
        down.values[index] -= h
        return (f(up) - f(down)) / (2 * h)
    }
}
