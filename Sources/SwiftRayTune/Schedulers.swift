/// What a scheduler decides on a trial's report.
public enum SchedulerDecision: Sendable, Equatable {
    case `continue`
    case stop
    /// Stop running for now and give the trial's resources back: it resumes from its last
    /// checkpoint when the scheduler releases it (`releasePaused`), as HyperBand does between rungs.
    case pause
    /// Restart the trial from trial `donor`'s latest checkpoint with `config` (Population Based
    /// Training's exploit and explore); the trial's history goes on.
    case exploit(donor: Int, config: TrialConfig)
}

/// Decides, report by report, which trials go on (Ray's trial schedulers). The Tuner calls it for
/// one event at a time, in the order they happen; only `onResult` is required.
public protocol TrialScheduler: Sendable {
    /// Trial `trial` reported `metrics`.
    mutating func onResult(trial: Int, metrics: Metrics) -> SchedulerDecision
    /// Trial `trial` starts with `config` (a new trial, not a resumed one).
    mutating func onTrialAdd(trial: Int, config: TrialConfig)
    /// Trial `trial` ended: finished, stopped or failed.
    mutating func onTrialComplete(trial: Int)
    /// The searcher has no more trials to add.
    mutating func onSearchEnd()
    /// Paused trials that run again now, and paused trials that end here (asked after every event).
    mutating func releasePaused() -> (resume: [Int], stop: [Int])
    /// The `.exploit` just decided for `trial` did not happen: its donor has no checkpoint yet.
    mutating func onExploitSkipped(trial: Int)
}

extension TrialScheduler {
    public mutating func onTrialAdd(trial: Int, config: TrialConfig) {}
    public mutating func onTrialComplete(trial: Int) {}
    public mutating func onSearchEnd() {}
    public mutating func releasePaused() -> (resume: [Int], stop: [Int]) { ([], []) }
    public mutating func onExploitSkipped(trial: Int) {}
}

/// Every trial runs to its end (Ray's `FIFOScheduler`, the default).
public struct FIFOScheduler: TrialScheduler {
    public init() {}
    public mutating func onResult(trial: Int, metrics: Metrics) -> SchedulerDecision { .continue }
}

/// Asynchronous successive halving (Ray's `ASHAScheduler`, one bracket): at each milestone
/// (`gracePeriod * reductionFactor^k` of `timeAttr`), a trial whose metric is below the top
/// `1 / reductionFactor` of those recorded there so far stops; every trial stops at `maxT`.
public struct ASHAScheduler: TrialScheduler {
    public let metric: String
    public let mode: Mode
    public let timeAttr: String
    public let maxT: Double
    public let gracePeriod: Double
    public let reductionFactor: Double
    /// The milestones, largest first, and the metric values recorded at each.
    private let milestones: [Double]
    private var recorded: [[Double]]
    /// The milestones each trial has passed.
    private var passed: [Int: Set<Int>] = [:]

    public init(
        metric: String, mode: Mode, timeAttr: String = "training_iteration", maxT: Double = 100, gracePeriod: Double = 1,
        reductionFactor: Double = 4
    ) {
        self.metric = metric
        self.mode = mode
        self.timeAttr = timeAttr
        self.maxT = maxT
        self.gracePeriod = max(gracePeriod, 1e-9)
        self.reductionFactor = max(reductionFactor, 1.0001)
        var milestones: [Double] = []
        var milestone = self.gracePeriod
        while milestone < maxT {
            milestones.append(milestone)
            milestone *= self.reductionFactor
        }
        self.milestones = milestones.reversed()
        recorded = Array(repeating: [], count: milestones.count)
    }

    public mutating func onResult(trial: Int, metrics: Metrics) -> SchedulerDecision {
        guard let time = metrics[timeAttr], let raw = metrics[metric], !raw.isNaN else { return .continue }
        if time >= maxT { return .stop }
        let value = mode == .max ? raw : -raw
        for (rung, milestone) in milestones.enumerated() where time >= milestone {
            guard !(passed[trial]?.contains(rung) ?? false) else { break }
            let cutoff = recorded[rung].isEmpty ? nil : Self.percentile(recorded[rung], (1 - 1 / reductionFactor) * 100)
            recorded[rung].append(value)
            passed[trial, default: []].insert(rung)
            if let cutoff, value < cutoff { return .stop }
            break
        }
        return .continue
    }

    /// NumPy's `percentile` with linear interpolation (the cutoff Ray's ASHA uses).
    public static func percentile(_ values: [Double], _ percent: Double) -> Double {
        let sorted = values.sorted()
        let rank = percent / 100 * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down)), upper = Int(rank.rounded(.up))
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - Double(lower))
    }
}

/// Stops a trial whose best result so far is worse than the median of the other trials' running
/// averages at the same point (Ray's `MedianStoppingRule`), once it is past `gracePeriod` of
/// `timeAttr` and at least `minSamplesRequired` other trials have results.
public struct MedianStoppingRule: TrialScheduler {
    public let metric: String
    public let mode: Mode
    public let timeAttr: String
    public let gracePeriod: Double
    public let minSamplesRequired: Int
    /// Each trial's (time, value) results, value oriented so larger is better.
    private var results: [Int: [(time: Double, value: Double)]] = [:]

    public init(metric: String, mode: Mode, timeAttr: String = "training_iteration", gracePeriod: Double = 60, minSamplesRequired: Int = 3) {
        self.metric = metric
        self.mode = mode
        self.timeAttr = timeAttr
        self.gracePeriod = gracePeriod
        self.minSamplesRequired = minSamplesRequired
    }

    public mutating func onResult(trial: Int, metrics: Metrics) -> SchedulerDecision {
        guard let time = metrics[timeAttr], let raw = metrics[metric], !raw.isNaN else { return .continue }
        results[trial, default: []].append((time, mode == .max ? raw : -raw))
        guard time >= gracePeriod else { return .continue }
        let others = results.filter { $0.key != trial }.compactMap { _, history -> Double? in
            let upToNow = history.filter { $0.time <= time }
            return upToNow.isEmpty ? nil : upToNow.map(\.value).reduce(0, +) / Double(upToNow.count)
        }
        guard others.count >= minSamplesRequired, let best = results[trial]?.map(\.value).max() else { return .continue }
        return best < ASHAScheduler.percentile(others, 50) ? .stop : .continue
    }
}
