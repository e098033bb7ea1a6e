import SwiftRay

/// One value of a trial's configuration: a number, a string, a flag, a list or a nested space.
public enum ParameterValue: Codable, Sendable, Hashable, CustomStringConvertible {
    case double(Double)
    case int(Int)
    case string(String)
    case bool(Bool)
    case list([ParameterValue])
    case nested([String: ParameterValue])

    /// The value as a `Double` (integers convert); nil for others.
    public var double: Double? {
        switch self {
        case .double(let value): value
        case .int(let value): Double(value)
        default: nil
        }
    }

    /// The value as an `Int` (whole doubles convert); nil for others.
    public var int: Int? {
        switch self {
        case .int(let value): value
        case .double(let value) where value.rounded() == value && abs(value) < 9e18: Int(value)
        default: nil
        }
    }

    public var string: String? { if case .string(let value) = self { value } else { nil } }
    public var bool: Bool? { if case .bool(let value) = self { value } else { nil } }

    public var description: String {
        switch self {
        case .double(let value): "\(value)"
        case .int(let value): "\(value)"
        case .string(let value): value
        case .bool(let value): "\(value)"
        case .list(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .nested(let values): "{" + values.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        }
    }
}

extension ParameterValue: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// A trial's configuration, sampled from the search space: read numbers with `config["lr"]`,
/// other kinds with `int`, `string`, `bool`, or `value(_:)`; nested spaces with dotted paths
/// (`config["model.width"]`).
public struct TrialConfig: Codable, Sendable, Hashable, CustomStringConvertible {
    public var values: [String: ParameterValue]
    /// Where a restarted trial resumes: its last checkpoint and the iteration it was saved at.
    public internal(set) var restored: RestorePoint?
    /// The placement group reserved for this trial (`TuneConfig.resourcesPerTrial`): the trial
    /// runs in bundle 0 and may place its own tasks and actors in the others.
    public internal(set) var placementGroup: PlacementGroup?

    public init(_ values: [String: ParameterValue] = [:]) { self.values = values }

    /// The value at `path` (`"a"`, or `"outer.inner"` in a nested space).
    public func value(_ path: String) -> ParameterValue? {
        var current: ParameterValue = .nested(values)
        for key in path.split(separator: ".") {
            guard case .nested(let inner) = current, let next = inner[String(key)] else { return nil }
            current = next
        }
        return current
    }

    /// The number at `path`; NaN when there is none, so a typo shows in the metrics at once.
    public subscript(_ path: String) -> Double { value(path)?.double ?? .nan }

    public func int(_ path: String) -> Int? { value(path)?.int }
    public func string(_ path: String) -> String? { value(path)?.string }
    public func bool(_ path: String) -> Bool? { value(path)?.bool }

    public var description: String { ParameterValue.nested(values).description }
}

/// How one parameter is chosen (Ray Tune's search space API): sampled at random, tried in a grid,
/// or computed from the others.
public enum Domain: Sendable {
    /// A real number uniform in `[low, high)`.
    case uniform(Double, Double)
    /// `uniform` rounded to a multiple of `q`.
    case quniform(Double, Double, q: Double)
    /// A real number whose logarithm is uniform in `[log low, log high)`.
    case loguniform(Double, Double)
    /// Normally distributed.
    case randn(mean: Double, sd: Double)
    /// An integer uniform in `low..<high`.
    case randint(Int, Int)
    /// An integer whose logarithm is uniform (`low >= 1`), in `low..<high`.
    case lograndint(Int, Int)
    /// One of the values, equally likely.
    case choice([ParameterValue])
    /// Every one of the values: the grid is the cross product of all grid parameters, repeated
    /// `numSamples` times (as in Ray).
    case grid([ParameterValue])
    /// Always this value.
    case constant(ParameterValue)
    /// A space of its own, sampled into a nested value.
    case nested([String: Domain])
    /// Computed from the parameters sampled before it (Ray's `sample_from`): those of the enclosing
    /// level, in key order, and every parameter not computed this way.
    case sampleFrom(@Sendable (TrialConfig) -> ParameterValue)

    /// `.choice` of plain values.
    public static func choice<T: ParameterConvertible>(_ values: [T]) -> Domain { .choice(values.map(\.parameterValue)) }
    /// `.grid` of plain values.
    public static func grid<T: ParameterConvertible>(_ values: [T]) -> Domain { .grid(values.map(\.parameterValue)) }
}

extension Domain: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(floatLiteral value: Double) { self = .constant(.double(value)) }
    public init(integerLiteral value: Int) { self = .constant(.int(value)) }
    public init(stringLiteral value: String) { self = .constant(.string(value)) }
}

/// Swift values usable as parameter values.
public protocol ParameterConvertible: Sendable {
    var parameterValue: ParameterValue { get }
}

extension Double: ParameterConvertible { public var parameterValue: ParameterValue { .double(self) } }
extension Int: ParameterConvertible { public var parameterValue: ParameterValue { .int(self) } }
extension String: ParameterConvertible { public var parameterValue: ParameterValue { .string(self) } }
extension Bool: ParameterConvertible { public var parameterValue: ParameterValue { .bool(self) } }

/// A trial's last checkpoint and the iteration that saved it, given to the trial when it restarts.
public struct RestorePoint: Codable, Sendable, Hashable {
    public let checkpoint: Checkpoint
    public let iteration: Int
}
