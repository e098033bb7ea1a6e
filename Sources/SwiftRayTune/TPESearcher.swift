import Foundation

/// Tree-structured Parzen Estimator search (TPE, Optuna's default sampler), written here: after
/// `startupTrials` random ones, each parameter is sampled where the best `gamma` fraction of the
/// finished trials is dense and the rest is sparse — `candidates` draws from a Parzen estimator
/// (a mixture of Gaussians, one per good value, plus a wide prior) over the good values, keeping
/// the one with the largest ratio of good to bad density. Numbers are modelled on their own scale
/// (logarithmic for `loguniform`/`lograndint`), choices by smoothed counts; other domains
/// (constants, nested spaces, computed values) are sampled as `BasicVariantGenerator` does.
public struct TPESearcher: Searcher {
    public let metric: String
    public let mode: Mode
    public let startupTrials: Int
    public let gamma: Double
    public let candidates: Int
    private let space: [String: Domain]
    private var random: TuneRandom
    private var suggested: [Int: TrialConfig] = [:]
    /// Finished trials: configuration and metric, oriented so smaller is better.
    private var finished: [(config: TrialConfig, loss: Double)] = []

    public init(
        paramSpace: [String: Domain], metric: String, mode: Mode, startupTrials: Int = 10, gamma: Double = 0.25,
        candidates: Int = 24, seed: UInt64? = nil
    ) {
        space = paramSpace
        self.metric = metric
        self.mode = mode
        self.startupTrials = startupTrials
        self.gamma = gamma
        self.candidates = max(1, candidates)
        random = TuneRandom(seed: seed ?? UInt64.random(in: 0...UInt64.max))
    }

    public mutating func suggest(trial: Int) -> TrialConfig? {
        var config = VariantGenerator.variants(space, numSamples: 1, random: &random)[0]
        if finished.count >= startupTrials {
            let sorted = finished.sorted { $0.loss < $1.loss }
            let good = Array(sorted.prefix(max(1, Int((gamma * Double(sorted.count)).rounded(.up)))))
            let bad = Array(sorted.dropFirst(good.count))
            for key in space.keys.sorted() {
                if let value = model(space[key]!, good: good.compactMap { $0.config.values[key] }, bad: bad.compactMap { $0.config.values[key] }) {
                    config.values[key] = value
                }
            }
        }
        suggested[trial] = config
        return config
    }

    public mutating func restore(trial: Int, config: TrialConfig, metrics: Metrics?) {
        guard let value = metrics?[metric], !value.isNaN else { return }
        finished.append((config, mode == .min ? value : -value))
    }

    public mutating func onTrialComplete(trial: Int, metrics: Metrics?) {
        guard let config = suggested.removeValue(forKey: trial), let value = metrics?[metric], !value.isNaN else { return }
        finished.append((config, mode == .min ? value : -value))
    }

    /// A value chosen by the good/bad density ratio, or nil for domains TPE leaves to random.
    private mutating func model(_ domain: Domain, good: [ParameterValue], bad: [ParameterValue]) -> ParameterValue? {
        switch domain {
        case .uniform(let low, let high):
            return numeric(low, high, good, bad, log: false).map { .double($0) }
        case .quniform(let low, let high, let q):
            return numeric(low, high, good, bad, log: false).map { .double(q > 0 ? min(max(($0 / q).rounded() * q, low), high) : $0) }
        case .loguniform(let low, let high):
            return numeric(low, high, good, bad, log: true).map { .double($0) }
        case .randint(let low, let high):
            return numeric(Double(low), Double(high - 1), good, bad, log: false).map { .int(Int($0.rounded())) }
        case .lograndint(let low, let high):
            return numeric(Double(max(low, 1)), Double(max(high - 1, low, 1)), good, bad, log: true).map { .int(Int($0.rounded())) }
        case .choice(let values):
            return categorical(values, good, bad)
        default:
            return nil
        }
    }

    private mutating func numeric(_ low: Double, _ high: Double, _ good: [ParameterValue], _ bad: [ParameterValue], log: Bool) -> Double? {
        let toScale: (Double) -> Double = log ? { Foundation.log($0) } : { $0 }
        let (lo, hi) = (toScale(low), toScale(high))
        guard hi > lo else { return nil }
        let below = Parzen(good.compactMap(\.double).map(toScale), low: lo, high: hi)
        let above = Parzen(bad.compactMap(\.double).map(toScale), low: lo, high: hi)
        var best: (x: Double, score: Double)?
        for _ in 0..<candidates {
            let x = below.sample(&random)
            let score = below.logDensity(x) - above.logDensity(x)
            if best == nil || score > best!.score { best = (x, score) }
        }
        guard let x = best?.x else { return nil }
        return log ? min(max(exp(x), low), high) : x
    }

    private mutating func categorical(_ values: [ParameterValue], _ good: [ParameterValue], _ bad: [ParameterValue]) -> ParameterValue? {
        guard !values.isEmpty else { return nil }
        let weightsGood = values.map { value in Double(good.filter { $0 == value }.count) + 1 }
        let weightsBad = values.map { value in Double(bad.filter { $0 == value }.count) + 1 }
        let totalGood = weightsGood.reduce(0, +), totalBad = weightsBad.reduce(0, +)
        var best: (index: Int, score: Double)?
        for _ in 0..<candidates {
            var pick = random.unit() * totalGood, index = 0
            while index < values.count - 1 && pick >= weightsGood[index] {
                pick -= weightsGood[index]
                index += 1
            }
            let score = Foundation.log(weightsGood[index] / totalGood) - Foundation.log(weightsBad[index] / totalBad)
            if best == nil || score > best!.score { best = (index, score) }
        }
        return best.map { values[$0.index] }
    }
}

/// A Parzen estimator on `[low, high]`: a Gaussian per point (its width the larger gap to its
/// neighbours, clipped as Optuna does) and a prior Gaussian over the whole range, equally weighted.
struct Parzen {
    let means: [Double]
    let widths: [Double]
    let low: Double
    let high: Double

    init(_ points: [Double], low: Double, high: Double) {
        self.low = low
        self.high = high
        let range = high - low
        let sorted = points.map { min(max($0, low), high) }.sorted()
        var means = sorted, widths: [Double] = []
        let minimum = range / min(100, 1 + Double(sorted.count))
        for (index, point) in sorted.enumerated() {
            let left = index > 0 ? point - sorted[index - 1] : point - low
            let right = index + 1 < sorted.count ? sorted[index + 1] - point : high - point
            widths.append(min(max(max(left, right), minimum), range))
        }
        means.append((low + high) / 2)
        widths.append(range)
        self.means = means
        self.widths = widths
    }

    /// One draw: a component chosen evenly, then a Gaussian draw kept inside the range.
    func sample(_ random: inout TuneRandom) -> Double {
        let component = min(Int(random.unit() * Double(means.count)), means.count - 1)
        for _ in 0..<16 {
            let radius = (-2 * log(1 - random.unit())).squareRoot()
            let x = means[component] + widths[component] * radius * cos(2 * .pi * random.unit())
            if x >= low && x <= high { return x }
        }
        return min(max(means[component], low), high)
    }

    func logDensity(_ x: Double) -> Double {
        var total = 0.0
        for (mean, width) in zip(means, widths) {
            let z = (x - mean) / width
            total += exp(-0.5 * z * z) / (width * (2 * .pi).squareRoot())
        }
        return log(max(total / Double(means.count), 1e-300))
    }
}
