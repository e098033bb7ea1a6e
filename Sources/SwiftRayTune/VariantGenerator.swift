import Foundation
import SwiftRay

/// Tune's seeded generator: the same seed samples the same trials.
public typealias TuneRandom = SeededRandom

/// The configurations of an experiment (Ray's `BasicVariantGenerator`): every point of the grid
/// (the cross product of the `.grid` parameters), `numSamples` times over, with the other
/// parameters sampled at random each time and `.sampleFrom` ones computed last.
enum VariantGenerator {
    static func variants(_ space: [String: Domain], numSamples: Int, random: inout TuneRandom) -> [TrialConfig] {
        let grid = gridPoints(space, prefix: [])
        var configs: [TrialConfig] = []
        configs.reserveCapacity(max(numSamples, 0) * grid.count)
        for _ in 0..<max(numSamples, 0) {
            for point in grid {
                var values = sample(space, fixed: point, path: [], random: &random)
                resolveComputed(space, into: &values, root: values, path: [])
                configs.append(TrialConfig(values))
            }
        }
        return configs
    }

    /// Every combination of the grid parameters' values, by path; one empty point without grids.
    static func gridPoints(_ space: [String: Domain], prefix: [String]) -> [[[String]: ParameterValue]] {
        var points: [[[String]: ParameterValue]] = [[:]]
        for key in space.keys.sorted() {
            let path = prefix + [key]
            switch space[key]! {
            case .grid(let values):
                points = points.flatMap { point in values.map { value in point.merging([path: value]) { $1 } } }
            case .nested(let inner):
                let innerPoints = gridPoints(inner, prefix: path)
                points = points.flatMap { point in innerPoints.map { point.merging($0) { $1 } } }
            default:
                continue
            }
        }
        return points
    }

    private static func sample(
        _ space: [String: Domain], fixed: [[String]: ParameterValue], path: [String], random: inout TuneRandom
    ) -> [String: ParameterValue] {
        var values: [String: ParameterValue] = [:]
        for key in space.keys.sorted() {
            let here = path + [key]
            if let value = fixed[here] {
                values[key] = value
            } else if case .nested(let inner) = space[key]! {
                values[key] = .nested(sample(inner, fixed: fixed, path: here, random: &random))
            } else if let value = draw(space[key]!, random: &random) {
                values[key] = value
            }
        }
        return values
    }

    /// Fills in `.sampleFrom` parameters, in key order, each seeing the configuration so far.
    private static func resolveComputed(
        _ space: [String: Domain], into values: inout [String: ParameterValue], root: [String: ParameterValue], path: [String]
    ) {
        var root = root
        for key in space.keys.sorted() {
            switch space[key]! {
            case .sampleFrom(let compute):
                let value = compute(TrialConfig(root))
                values[key] = value
                root = setting(root, path + [key], value)
            case .nested(let inner):
                guard case .nested(var nested)? = values[key] else { continue }
                resolveComputed(inner, into: &nested, root: root, path: path + [key])
                values[key] = .nested(nested)
                root = setting(root, path + [key], .nested(nested))
            default:
                continue
            }
        }
    }

    private static func setting(_ values: [String: ParameterValue], _ path: [String], _ value: ParameterValue) -> [String: ParameterValue] {
        guard let first = path.first else { return values }
        var values = values
        if path.count == 1 {
            values[first] = value
        } else {
            guard case .nested(let inner)? = values[first] else { return values }
            values[first] = .nested(setting(inner, Array(path.dropFirst()), value))
        }
        return values
    }

    /// One random value of a sampled domain (nil for those resolved otherwise).
    static func draw(_ domain: Domain, random: inout TuneRandom) -> ParameterValue? {
        switch domain {
        case .uniform(let low, let high):
            return .double(low + (high - low) * random.unit())
        case .quniform(let low, let high, let q):
            let value = low + (high - low) * random.unit()
            return .double(q > 0 ? (value / q).rounded() * q : value)
        case .loguniform(let low, let high):
            return .double(exp(log(low) + (log(high) - log(low)) * random.unit()))
        case .randn(let mean, let sd):
            // Box-Muller: 1 - unit() is in (0, 1], so its logarithm is finite.
            let radius = (-2 * log(1 - random.unit())).squareRoot()
            return .double(mean + sd * radius * cos(2 * .pi * random.unit()))
        case .randint(let low, let high):
            return .int(high > low ? Int.random(in: low..<high, using: &random) : low)
        case .lograndint(let low, let high):
            let logLow = log(Double(max(low, 1))), logHigh = log(Double(max(high, low + 1)))
            let value = Int(exp(logLow + (logHigh - logLow) * random.unit()).rounded(.down))
            return .int(min(max(value, low), max(high - 1, low)))
        case .choice(let values):
            return values.isEmpty ? nil : values[Int.random(in: 0..<values.count, using: &random)]
        case .constant(let value):
            return value
        case .grid, .nested, .sampleFrom:
            return nil
        }
    }
}
