import SwiftRay
import SwiftRayNN
import XCTest

final class MLPTests: XCTestCase {
    func testMatrixProductMatchesTheDefinition() {
        var random = SeededRandom(seed: 7)
        for (n, k, m) in [(1, 1, 1), (3, 5, 7), (8, 13, 4), (5, 9, 17)] {
            let a = Matrix(rows: n, columns: k, values: (0..<n * k).map { _ in random.normal() })
            let b = Matrix(rows: k, columns: m, values: (0..<k * m).map { _ in random.normal() })
            let product = a.multiplied(by: b)
            for i in 0..<n {
                for j in 0..<m {
                    let expected = (0..<k).reduce(0.0) { $0 + a[i, $1] * b[$1, j] }
                    XCTAssertEqual(product[i, j], expected, accuracy: 1e-12)
                }
            }
        }
        XCTAssertEqual(Matrix([[1, 2], [3, 4]]).transposed, Matrix([[1, 3], [2, 4]]))
    }

    /// Backpropagation against central finite differences, for every parameter of small networks.
    func testGradientsMatchFiniteDifferences() {
        for hidden in [Activation.tanh, .relu] {
            var model = MLP(sizes: [4, 5, 3, 3], hidden: hidden, seed: 11)
            var random = SeededRandom(seed: 3)
            let x = Matrix(rows: 6, columns: 4, values: (0..<24).map { _ in random.normal() })
            let labels = [0, 1, 2, 1, 0, 2]
            let (_, gradients) = model.lossAndGradients(x, labels: labels)
            let parameters = model.parameters
            XCTAssertEqual(gradients.count, parameters.count)
            let step = 1e-6
            for index in parameters.indices {
                var shifted = parameters
                shifted[index] += step
                model.parameters = shifted
                let up = model.lossAndGradients(x, labels: labels).loss
                shifted[index] -= 2 * step
                model.parameters = shifted
                let down = model.lossAndGradients(x, labels: labels).loss
                let numeric = (up - down) / (2 * step)
                XCTAssertEqual(gradients[index], numeric, accuracy: 1e-6 + 1e-4 * abs(numeric), "\(hidden) parameter \(index)")
            }
            model.parameters = parameters
        }
    }

    func testBackpropagationFromAnyOutputGradientMatchesFiniteDifferences() {
        // A loss the network does not know: sum of weights ⊙ outputs², d/d(output) = 2 w ⊙ output.
        var model = MLP(sizes: [3, 4, 2], hidden: .tanh, seed: 5)
        var random = SeededRandom(seed: 8)
        let x = Matrix(rows: 5, columns: 3, values: (0..<15).map { _ in random.normal() })
        let weights = (0..<10).map { _ in random.normal() }
        func loss(_ model: MLP) -> Double {
            zip(model.forward(x).output.values, weights).map { $1 * $0 * $0 }.reduce(0, +)
        }
        let pass = model.forward(x)
        let outputGradient = Matrix(rows: 5, columns: 2, values: zip(pass.output.values, weights).map { 2 * $1 * $0 })
        let gradients = model.gradients(pass, outputGradient: outputGradient)
        let parameters = model.parameters
        for index in parameters.indices {
            var shifted = parameters
            shifted[index] += 1e-6
            model.parameters = shifted
            let up = loss(model)
            shifted[index] -= 2e-6
            model.parameters = shifted
            let numeric = (up - loss(model)) / 2e-6
            XCTAssertEqual(gradients[index], numeric, accuracy: 1e-6 + 1e-4 * abs(numeric), "parameter \(index)")
        }
    }

    func testParametersRoundTripAndSeedsAreDeterministic() {
        var model = MLP(sizes: [3, 4, 2], seed: 5)
        XCTAssertEqual(model.parameterCount, 3 * 4 + 4 + 4 * 2 + 2)
        XCTAssertEqual(model, MLP(sizes: [3, 4, 2], seed: 5), "the same seed, the same weights")
        XCTAssertNotEqual(model, MLP(sizes: [3, 4, 2], seed: 6))
        let changed = model.parameters.map { $0 + 1 }
        model.parameters = changed
        XCTAssertEqual(model.parameters, changed)
    }

    func testSGDAndAdamLearnTheTeacherSet() {
        let data = ClassificationData.teacher(samples: 5000, features: 8, classes: 2, seed: 1)
        let train = data.slice(0..<4000), test = data.slice(4000..<5000)
        for useAdam in [false, true] {
            var model = MLP(sizes: [8, 32, 2], seed: 2)
            var sgd = SGD(learningRate: 0.1, momentum: 0.9, parameterCount: model.parameterCount)
            var adam = Adam(learningRate: 3e-3, parameterCount: model.parameterCount)
            let before = model.lossAndGradients(test.features, labels: test.labels).loss
            for epoch in 0..<8 {
                for start in stride(from: 0, to: train.count, by: 100) {
                    let batch = train.batch(Array(start..<min(start + 100, train.count)))
                    let gradients = model.lossAndGradients(batch.features, labels: batch.labels).gradients
                    var parameters = model.parameters
                    if useAdam { adam.step(&parameters, gradients: gradients) } else { sgd.step(&parameters, gradients: gradients) }
                    model.parameters = parameters
                }
                _ = epoch
            }
            let after = model.lossAndGradients(test.features, labels: test.labels).loss
            XCTAssertLessThan(after, before / 3, useAdam ? "Adam" : "SGD")
            XCTAssertGreaterThanOrEqual(model.accuracy(test.features, labels: test.labels), 0.95, useAdam ? "Adam" : "SGD")
        }
    }

    func testShardsPartitionTheSet() {
        let data = ClassificationData.teacher(samples: 10, features: 2, seed: 4)
        let shards = (0..<3).map { data.shard(rank: $0, worldSize: 3) }
        XCTAssertEqual(shards.map(\.count), [4, 3, 3])
        XCTAssertEqual(shards[1].labels, [data.labels[1], data.labels[4], data.labels[7]])
    }
}
