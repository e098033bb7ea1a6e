import Foundation

/// Pendulum-v1 with gymnasium 1.x's dynamics (g = 10, torque clipped to ±2, speed to ±8,
/// 0.05 s steps), a continuous one-dimensional action, truncated after 200 steps when
/// time-limited. NumPy's promotion rules are kept (the torque's terms are `Float`), so for the
/// same seed and actions it matches gymnasium step for step.
public struct Pendulum: Environment, Codable {
    public static let maxEpisodeSteps: Int? = 200

    static let maxSpeed = 8.0, maxTorque: Float = 2.0, dt = 0.05, g = 10.0, m = 1.0, l = 1.0

    private var state: [Double]?
    private var random: PCG64

    public init() { random = PCG64(seed: UInt64.random(in: 0...UInt64.max)) }

    public var observationSpace: Space { .box(low: [-1, -1, -Float(Self.maxSpeed)], high: [1, 1, Float(Self.maxSpeed)]) }

    public var actionSpace: Space { .box(low: [-Self.maxTorque], high: [Self.maxTorque]) }

    public mutating func reset(seed: UInt64?) -> (observation: [Float], info: [String: Double]) {
        if let seed { random = PCG64(seed: seed) }
        let start = [random.uniform(-Double.pi, Double.pi), random.uniform(-1, 1)]
        state = start
        return (Self.observe(start), [:])
    }

    /// Any torque is accepted and clipped to ±2, as gymnasium does.
    public mutating func step(_ action: Action) throws -> StepResult {
        guard case .continuous(let values) = action, values.count == 1 else { throw EnvironmentError.invalidAction(action, actionSpace) }
        guard let s = state else { throw EnvironmentError.notReset }
        let u = min(max(values[0], -Self.maxTorque), Self.maxTorque)
        let (theta, speed) = (s[0], s[1])
        let costs = Self.normalize(theta) * Self.normalize(theta) + 0.1 * speed * speed + Double(Float(0.001) * (u * u))
        var newSpeed = speed + (3 * Self.g / (2 * Self.l) * sin(theta) + Double(Float(3.0 / (Self.m * Self.l * Self.l)) * u)) * Self.dt
        newSpeed = min(max(newSpeed, -Self.maxSpeed), Self.maxSpeed)
        let next = [theta + newSpeed * Self.dt, newSpeed]
        state = next
        return StepResult(observation: Self.observe(next), reward: -costs, terminated: false, truncated: false)
    }

    private static func observe(_ state: [Double]) -> [Float] { [Float(cos(state[0])), Float(sin(state[0])), Float(state[1])] }

    /// `((x + π) mod 2π) − π` with NumPy's floored modulo.
    static func normalize(_ x: Double) -> Double {
        let divisor = 2 * Double.pi
        var remainder = fmod(x + Double.pi, divisor)
        if remainder != 0, (remainder < 0) != (divisor < 0) { remainder += divisor }
        return remainder - Double.pi
    }
}
