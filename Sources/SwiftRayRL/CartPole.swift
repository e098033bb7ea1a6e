import Foundation

/// CartPole-v1 with gymnasium 1.x's physics (Euler integration, 0.02 s steps, failing past
/// ±12° or ±2.4), reward 1 per step, truncated after 500 steps when time-limited. The state is
/// kept in `Double` and observed as `Float`, and the start is drawn with NumPy's PCG64, so for
/// the same seed and actions it matches gymnasium step for step.
public struct CartPole: Environment, Codable {
    public static let maxEpisodeSteps: Int? = 500

    static let gravity = 9.8, massCart = 1.0, massPole = 0.1, length = 0.5, forceMagnitude = 10.0, tau = 0.02
    static let totalMass = massPole + massCart, poleMassLength = massPole * length
    static let thetaThreshold = 12 * 2 * Double.pi / 360, xThreshold = 2.4

    private var state: [Double]?
    private var random: PCG64
    private var stepsBeyondTerminated: Int?

    public init() { random = PCG64(seed: UInt64.random(in: 0...UInt64.max)) }

    public var observationSpace: Space {
        let high: [Float] = [Float(Self.xThreshold * 2), .infinity, Float(Self.thetaThreshold * 2), .infinity]
        return .box(low: high.map { -$0 }, high: high)
    }

    public var actionSpace: Space { .discrete(2) }

    public mutating func reset(seed: UInt64?) -> (observation: [Float], info: [String: Double]) {
        if let seed { random = PCG64(seed: seed) }
        let start = (0..<4).map { _ in random.uniform(-0.05, 0.05) }
        state = start
        stepsBeyondTerminated = nil
        return (start.map(Float.init), [:])
    }

    public mutating func step(_ action: Action) throws -> StepResult {
        guard actionSpace.contains(action), case .discrete(let push) = action else { throw EnvironmentError.invalidAction(action, actionSpace) }
        guard var s = state else { throw EnvironmentError.notReset }
        let force = push == 1 ? Self.forceMagnitude : -Self.forceMagnitude
        let cosTheta = cos(s[2]), sinTheta = sin(s[2])
        let temp = (force + Self.poleMassLength * (s[3] * s[3]) * sinTheta) / Self.totalMass
        let thetaAcc = (Self.gravity * sinTheta - cosTheta * temp)
            / (Self.length * (4.0 / 3.0 - Self.massPole * (cosTheta * cosTheta) / Self.totalMass))
        let xAcc = temp - Self.poleMassLength * thetaAcc * cosTheta / Self.totalMass
        s = [s[0] + Self.tau * s[1], s[1] + Self.tau * xAcc, s[2] + Self.tau * s[3], s[3] + Self.tau * thetaAcc]
        state = s
        let terminated = s[0] < -Self.xThreshold || s[0] > Self.xThreshold || s[2] < -Self.thetaThreshold || s[2] > Self.thetaThreshold
        var reward = 1.0
        if terminated {
            // Steps after the end are undefined in gymnasium; it rewards the first and not the rest.
            if let beyond = stepsBeyondTerminated {
                stepsBeyondTerminated = beyond + 1
                reward = 0
            } else {
                stepsBeyondTerminated = 0
            }
        }
        return StepResult(observation: s.map(Float.init), reward: reward, terminated: terminated, truncated: false)
    }
}
