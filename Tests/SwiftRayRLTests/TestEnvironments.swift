import SwiftRayRL

/// Ten steps a episode; action 1 earns 1, action 0 nothing (best return 10, random 5). Env
/// runners find it by its type's name in the test binary, as they would a user's environment.
struct RewardedChoice: Environment {
    private var steps = 0
    var observationSpace: Space { .box(low: [0], high: [1]) }
    var actionSpace: Space { .discrete(2) }
    static var maxEpisodeSteps: Int? { 10 }

    mutating func reset(seed: UInt64?) -> (observation: [Float], info: [String: Double]) {
        steps = 0
        return ([0], [:])
    }

    mutating func step(_ action: Action) throws -> StepResult {
        guard actionSpace.contains(action), case .discrete(let choice) = action else { throw EnvironmentError.invalidAction(action, actionSpace) }
        steps += 1
        return StepResult(observation: [Float(steps) / 10], reward: Double(choice), terminated: false, truncated: false)
    }
}

/// One step a episode: a continuous action in [-2, 2] earns -(action - 1)² (best return 0 at 1).
struct TargetAction: Environment {
    var observationSpace: Space { .box(low: [-1], high: [1]) }
    var actionSpace: Space { .box(low: [-2], high: [2]) }

    mutating func reset(seed: UInt64?) -> (observation: [Float], info: [String: Double]) { ([0], [:]) }

    mutating func step(_ action: Action) throws -> StepResult {
        guard actionSpace.contains(action), case .continuous(let values) = action else { throw EnvironmentError.invalidAction(action, actionSpace) }
        let miss = Double(values[0]) - 1
        return StepResult(observation: [0], reward: -miss * miss, terminated: true, truncated: false)
    }
}
