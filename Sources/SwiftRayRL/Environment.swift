/// One step's outcome (gymnasium's `(observation, reward, terminated, truncated, info)`).
public struct StepResult: Sendable, Codable, Equatable {
    public var observation: [Float]
    public var reward: Double
    /// The episode reached a terminal state (the pole fell).
    public var terminated: Bool
    /// The episode was cut short (the time limit), not ended by the task.
    public var truncated: Bool
    public var info: [String: Double]

    public init(observation: [Float], reward: Double, terminated: Bool, truncated: Bool, info: [String: Double] = [:]) {
        self.observation = observation
        self.reward = reward
        self.terminated = terminated
        self.truncated = truncated
        self.info = info
    }

    public var isDone: Bool { terminated || truncated }
}

/// An environment in gymnasium's shape. Write one as a type with `init()`: env runners make it
/// in their own processes (they run the driver's binary and find it by name), so a user's
/// environment needs no registration beyond naming its type.
public protocol Environment: Sendable {
    init()
    var observationSpace: Space { get }
    var actionSpace: Space { get }
    /// Steps after which an episode is truncated (gymnasium's `max_episode_steps`); nil: none.
    static var maxEpisodeSteps: Int? { get }
    /// Starts an episode. A seed reseeds the environment's generator (the same seed, the same
    /// start); nil continues with the generator as it is.
    mutating func reset(seed: UInt64?) -> (observation: [Float], info: [String: Double])
    /// Applies `action`.
    /// - Throws: `EnvironmentError` for an action outside the action space or a step before `reset`.
    mutating func step(_ action: Action) throws -> StepResult
}

extension Environment {
    public static var maxEpisodeSteps: Int? { nil }
}

/// A misused environment.
public enum EnvironmentError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidAction(Action, Space)
    case notReset
    case unknown(String)

    public var description: String {
        switch self {
        case .invalidAction(let action, let space): "action \(action) is not in the action space \(space)"
        case .notReset: "call reset before step"
        case .unknown(let name): "no environment named \(name) (known: \(Environments.names.joined(separator: ", ")); or pass the type)"
        }
    }
}

/// An environment with gymnasium's `TimeLimit`: truncated after `E.maxEpisodeSteps` steps.
public struct TimeLimited<E: Environment>: Sendable {
    public private(set) var environment: E
    public private(set) var elapsed = 0

    public init(_ environment: E = E()) { self.environment = environment }

    public mutating func reset(seed: UInt64? = nil) -> (observation: [Float], info: [String: Double]) {
        elapsed = 0
        return environment.reset(seed: seed)
    }

    public mutating func step(_ action: Action) throws -> StepResult {
        var result = try environment.step(action)
        elapsed += 1
        if let limit = E.maxEpisodeSteps, elapsed >= limit { result.truncated = true }
        return result
    }
}

/// The built-in environments by gymnasium id.
public enum Environments {
    /// Environment types by id.
    public static let builtIn: [String: any Environment.Type] = ["CartPole-v1": CartPole.self, "Pendulum-v1": Pendulum.self]

    public static var names: [String] { builtIn.keys.sorted() }

    /// The type registered as `id`.
    /// - Throws: `EnvironmentError.unknown`.
    public static func type(named id: String) throws -> any Environment.Type {
        guard let type = builtIn[id] else { throw EnvironmentError.unknown(id) }
        return type
    }
}
