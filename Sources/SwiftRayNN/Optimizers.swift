import Foundation

/// Updates flat parameters from their gradients; its state is `Codable` so it can be checkpointed.
public protocol Optimizer: Sendable, Codable {
    mutating func step(_ parameters: inout [Double], gradients: [Double])
}

/// Stochastic gradient descent with optional momentum.
public struct SGD: Optimizer, Equatable {
    public var learningRate: Double
    public var momentum: Double
    private var velocity: [Double]

    public init(learningRate: Double, momentum: Double = 0, parameterCount: Int) {
        self.learningRate = learningRate
        self.momentum = momentum
        velocity = [Double](repeating: 0, count: parameterCount)
    }

    public mutating func step(_ parameters: inout [Double], gradients: [Double]) {
        precondition(gradients.count == parameters.count && velocity.count == parameters.count)
        for i in parameters.indices {
            velocity[i] = momentum * velocity[i] + gradients[i]
            parameters[i] -= learningRate * velocity[i]
        }
    }
}

/// Adam (Kingma and Ba): per-parameter steps from bias-corrected first and second moments.
public struct Adam: Optimizer, Equatable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    private var first: [Double]
    private var second: [Double]
    private var steps = 0

    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, parameterCount: Int) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        first = [Double](repeating: 0, count: parameterCount)
        second = first
    }

    public mutating func step(_ parameters: inout [Double], gradients: [Double]) {
        precondition(gradients.count == parameters.count && first.count == parameters.count)
        steps += 1
        let correction1 = 1 - pow(beta1, Double(steps)), correction2 = 1 - pow(beta2, Double(steps))
        for i in parameters.indices {
            first[i] = beta1 * first[i] + (1 - beta1) * gradients[i]
            second[i] = beta2 * second[i] + (1 - beta2) * gradients[i] * gradients[i]
            parameters[i] -= learningRate * (first[i] / correction1) / ((second[i] / correction2).squareRoot() + epsilon)
        }
    }
}
