import Foundation
import SwiftRay

/// What a layer applies to its outputs.
public enum Activation: String, Sendable, Codable {
    case relu, tanh, identity

    func apply(_ x: Double) -> Double {
        switch self {
        case .relu: x > 0 ? x : 0
        case .tanh: Foundation.tanh(x)
        case .identity: x
        }
    }

    /// d(output)/d(input), from the layer's output `y`.
    func derivative(output y: Double) -> Double {
        switch self {
        case .relu: y > 0 ? 1 : 0
        case .tanh: 1 - y * y
        case .identity: 1
        }
    }
}

/// A fully connected layer: `activation(x · weights + bias)`, weights `inputs x outputs`.
public struct DenseLayer: Sendable, Codable, Equatable {
    public var weights: Matrix
    public var bias: [Double]
    public let activation: Activation

    public var inputs: Int { weights.rows }
    public var outputs: Int { weights.columns }

    /// Weights drawn uniformly in ±sqrt(6 / (inputs + outputs)) (Glorot), biases zero.
    public init(inputs: Int, outputs: Int, activation: Activation, random: inout SeededRandom) {
        let limit = (6 / Double(inputs + outputs)).squareRoot()
        weights = Matrix(rows: inputs, columns: outputs, values: (0..<inputs * outputs).map { _ in random.uniform(-limit, limit) })
        bias = [Double](repeating: 0, count: outputs)
        self.activation = activation
    }

    func forward(_ x: Matrix) -> Matrix {
        var out = x.multiplied(by: weights).addingRow(bias)
        if activation != .identity { out.values = out.values.map(activation.apply) }
        return out
    }
}

/// A multilayer perceptron classifier: dense layers, softmax cross-entropy loss, gradients by
/// backpropagation written out (no automatic differentiation), and its parameters as one flat
/// array (for optimizers, allreduce and checkpoints).
///
/// ```swift
/// var model = MLP(sizes: [32, 64, 2], seed: 1)
/// var adam = Adam(learningRate: 1e-3, parameterCount: model.parameterCount)
/// let (loss, gradients) = model.lossAndGradients(batch, labels: labels)
/// adam.step(&model.parameters, gradients: gradients)
/// ```
public struct MLP: Sendable, Codable, Equatable {
    public private(set) var layers: [DenseLayer]

    /// Layers between consecutive `sizes` (`[inputs, hidden..., classes]`): `hidden` activation in
    /// between, logits out; weights from a generator seeded with `seed`.
    public init(sizes: [Int], hidden: Activation = .relu, seed: UInt64) {
        precondition(sizes.count >= 2, "an MLP has at least an input and an output size")
        var random = SeededRandom(seed: seed)
        layers = (0..<sizes.count - 1).map { index in
            DenseLayer(
                inputs: sizes[index], outputs: sizes[index + 1], activation: index == sizes.count - 2 ? .identity : hidden, random: &random)
        }
    }

    /// The logits for each row of `x`.
    public func logits(_ x: Matrix) -> Matrix { layers.reduce(x) { $1.forward($0) } }

    /// The most likely class of each row.
    public func predict(_ x: Matrix) -> [Int] {
        let out = logits(x)
        return (0..<out.rows).map { row in
            let values = out.row(row)
            return values.indices.max { values[$0] < values[$1] }!
        }
    }

    /// The share of rows predicted as `labels`.
    public func accuracy(_ x: Matrix, labels: [Int]) -> Double {
        let predicted = predict(x)
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(max(labels.count, 1))
    }

    /// The mean softmax cross-entropy over the rows of `x` and its gradient with respect to every
    /// parameter, laid out as `parameters`.
    public func lossAndGradients(_ x: Matrix, labels: [Int]) -> (loss: Double, gradients: [Double]) {
        let pass = forward(x)
        let (loss, outputGradient) = Self.softmaxCrossEntropy(pass.output, labels: labels)
        return (loss, gradients(pass, outputGradient: outputGradient))
    }

    /// Every layer's output for `x`, kept for `gradients(_:outputGradient:)`.
    public func forward(_ x: Matrix) -> ForwardPass {
        var activations = [x]
        for layer in layers { activations.append(layer.forward(activations.last!)) }
        return ForwardPass(activations: activations)
    }

    /// Backpropagation from any loss: given d loss / d output (the last layer's output, one row
    /// per input row), every parameter's gradient, laid out as `parameters`. What a policy-gradient
    /// or value loss needs, whose gradient with respect to the outputs it computes itself.
    public func gradients(_ pass: ForwardPass, outputGradient: Matrix) -> [Double] {
        precondition(outputGradient.rows == pass.output.rows && outputGradient.columns == pass.output.columns, "one gradient per output")
        var upstream = outputGradient
        var gradients: [[Double]] = []
        for index in layers.indices.reversed() {
            let layer = layers[index]
            if layer.activation != .identity {  // from d/d(output) to d/d(pre-activation)
                let output = pass.activations[index + 1]
                for i in upstream.values.indices { upstream.values[i] *= layer.activation.derivative(output: output.values[i]) }
            }
            let input = pass.activations[index]
            let weightGradient = input.transposed.multiplied(by: upstream)
            gradients.append(weightGradient.values + upstream.columnSums)
            if index > 0 { upstream = upstream.multiplied(by: layer.weights.transposed) }
        }
        return gradients.reversed().flatMap { $0 }
    }

    /// Mean cross-entropy of softmax(`logits`) against `labels`, and its gradient with respect to
    /// the logits (already divided by the batch size).
    static func softmaxCrossEntropy(_ logits: Matrix, labels: [Int]) -> (Double, Matrix) {
        precondition(labels.count == logits.rows, "one label per row")
        var gradient = logits
        var loss = 0.0
        let scale = 1 / Double(logits.rows), width = logits.columns
        gradient.values.withUnsafeMutableBufferPointer { out in
            for row in 0..<logits.rows {
                // In place, row by row: no arrays per sample.
                let base = row * width
                var top = -Double.infinity
                for column in 0..<width { top = max(top, out[base + column]) }
                var total = 0.0
                for column in 0..<width {
                    let e = Foundation.exp(out[base + column] - top)
                    out[base + column] = e
                    total += e
                }
                let label = labels[row]
                loss -= Foundation.log(out[base + label] / total)
                for column in 0..<width {
                    out[base + column] = (out[base + column] / total - (column == label ? 1 : 0)) * scale
                }
            }
        }
        return (loss * scale, gradient)
    }

    /// Every weight and bias, layer by layer (weights row-major, then biases).
    public var parameters: [Double] {
        get { layers.flatMap { $0.weights.values + $0.bias } }
        set {
            precondition(newValue.count == parameterCount, "\(parameterCount) parameters, not \(newValue.count)")
            var offset = 0
            for index in layers.indices {
                let weightCount = layers[index].weights.values.count, biasCount = layers[index].bias.count
                layers[index].weights.values = Array(newValue[offset..<offset + weightCount])
                layers[index].bias = Array(newValue[offset + weightCount..<offset + weightCount + biasCount])
                offset += weightCount + biasCount
            }
        }
    }

    public var parameterCount: Int { layers.reduce(0) { $0 + $1.weights.values.count + $1.bias.count } }
}

/// The activations of one forward pass: the input, then each layer's output.
public struct ForwardPass: Sendable {
    public let activations: [Matrix]

    /// The network's output (logits, or whatever the last layer gives).
    public var output: Matrix { activations.last! }
}
