import Foundation

/// How Population Based Training changes one parameter when it explores.
public enum Mutation: Sendable {
    /// One of these values: resampled at random, or moved to a neighbouring value.
    case values([ParameterValue])
    /// Resampled from the domain, or multiplied by one of the perturbation factors (integers
    /// rounded).
    case domain(Domain)
}

/// Population Based Training (Ray's `PopulationBasedTraining`, asynchronous): every
/// `perturbationInterval` of `timeAttr` (after `burnInPeriod`), a trial in the bottom
/// `quantileFraction` of the population by its latest metric *exploits* a trial of the top
/// fraction (restarts from that trial's latest checkpoint) and *explores* (perturbs the copied
/// configuration's `hyperparamMutations`). Trials must checkpoint at least every
/// `perturbationInterval`; a top trial without a checkpoint yet is not copied.
public struct PopulationBasedTraining: TrialScheduler {
    public let metric: String
    public let mode: Mode
    public let timeAttr: String
    public let perturbationInterval: Double
    public let burnInPeriod: Double
    public let hyperparamMutations: [String: Mutation]
    public let quantileFraction: Double
    public let resampleProbability: Double
    public let perturbationFactors: (Double, Double)
    private var random: TuneRandom
    private var configs: [Int: TrialConfig] = [:]
    private var scores: [Int: Double] = [:]
    private var lastPerturbation: [Int: Double] = [:]
    private var previousConfig: TrialConfig?
    /// Every exploit, in order: (trial, donor, new configuration).
    public private(set) var exploits: [(trial: Int, donor: Int, config: TrialConfig)] = []

    public init(
        metric: String, mode: Mode, timeAttr: String = "training_iteration", perturbationInterval: Double = 60, burnInPeriod: Double = 0,
        hyperparamMutations: [String: Mutation], quantileFraction: Double = 0.25, resampleProbability: Double = 0.25,
        perturbationFactors: (Double, Double) = (1.2, 0.8), seed: UInt64? = nil
    ) {
        self.metric = metric
        self.mode = mode
        self.timeAttr = timeAttr
        self.perturbationInterval = max(perturbationInterval, 1e-9)
        self.burnInPeriod = burnInPeriod
        self.hyperparamMutations = hyperparamMutations
        self.quantileFraction = min(max(quantileFraction, 0), 0.5)
        self.resampleProbability = resampleProbability
        self.perturbationFactors = perturbationFactors
        random = TuneRandom(seed: seed ?? UInt64.random(in: 0...UInt64.max))
    }

    public mutating func onTrialAdd(trial: Int, config: TrialConfig) { configs[trial] = config }

    public mutating func onTrialComplete(trial: Int) { scores[trial] = nil }

    public mutating func onExploitSkipped(trial: Int) {
        guard let last = exploits.last, last.trial == trial else { return }
        exploits.removeLast()
        configs[trial] = previousConfig
    }

    public mutating func onResult(trial: Int, metrics: Metrics) -> SchedulerDecision {
        guard let time = metrics[timeAttr], let raw = metrics[metric], !raw.isNaN else { return .continue }
        scores[trial] = mode == .max ? raw : -raw
        guard time >= burnInPeriod, time - lastPerturbation[trial, default: 0] >= perturbationInterval else { return .continue }
        lastPerturbation[trial] = time
        let (lower, upper) = quantiles()
        guard lower.contains(trial), !upper.isEmpty else { return .continue }
        let donor = upper[Int(random.next() % UInt64(upper.count))]
        guard let donorConfig = configs[donor] else { return .continue }
        let config = explore(donorConfig)
        previousConfig = configs[trial]
        configs[trial] = config
        exploits.append((trial, donor, config))
        return .exploit(donor: donor, config: config)
    }

    /// The bottom and top trials by latest score (Ray's `_quantiles`): each `quantileFraction` of
    /// those with a score, at most half; none when fewer than two have one.
    func quantiles() -> (lower: [Int], upper: [Int]) {
        let ranked = scores.keys.sorted { (scores[$0]!, -$0) < (scores[$1]!, -$1) }
        guard ranked.count > 1 else { return ([], []) }
        let count = min(Int((Double(ranked.count) * quantileFraction).rounded(.up)), ranked.count / 2)
        return (Array(ranked.prefix(count)), Array(ranked.suffix(count)))
    }

    /// `config` with each mutated parameter resampled (with `resampleProbability`) or perturbed.
    mutating func explore(_ config: TrialConfig) -> TrialConfig {
        var config = config
        for key in hyperparamMutations.keys.sorted() {
            let current = config.values[key]
            let resample = random.unit() < resampleProbability
            switch hyperparamMutations[key]! {
            case .values(let values) where !values.isEmpty:
                if resample || current.flatMap(values.firstIndex) == nil {
                    config.values[key] = values[Int(random.next() % UInt64(values.count))]
                } else {
                    let index = values.firstIndex(of: current!)! + (random.next() % 2 == 0 ? -1 : 1)
                    config.values[key] = values[min(max(index, 0), values.count - 1)]
                }
            case .domain(let domain):
                // A domain that cannot be drawn from alone (grid, nested, computed) keeps the value.
                let drawn = resample || current == nil ? VariantGenerator.draw(domain, random: &random) : perturb(current!)
                if let drawn { config.values[key] = drawn }
            default:
                break
            }
        }
        config.restored = nil
        return config
    }

    private mutating func perturb(_ value: ParameterValue) -> ParameterValue {
        let factor = random.next() % 2 == 0 ? perturbationFactors.0 : perturbationFactors.1
        switch value {
        case .int(let number): return .int(Int((Double(number) * factor).rounded()))
        case .double(let number): return .double(number * factor)
        default: return value
        }
    }
}
