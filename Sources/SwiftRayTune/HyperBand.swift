import Foundation

/// Synchronous HyperBand (Ray's `HyperBandScheduler`): trials are dealt into brackets of
/// successive halving, from the most exploring (many trials, a short first rung) to the least
/// (few trials run to `maxT`). In a bracket every trial runs to the rung's milestone of
/// `timeAttr` and pauses there (its resources go back); when all of them have arrived, the best
/// `1 / reductionFactor` resume from their checkpoints toward the next milestone
/// (`reductionFactor` times further) and the rest stop. Every trial stops at `maxT`.
///
/// Trials should checkpoint at least at each milestone (`checkpointEvery: 1` in a class
/// trainable), else a resumed trial starts over.
public struct HyperBandScheduler: TrialScheduler {
    public let metric: String
    public let mode: Mode
    public let timeAttr: String
    public let maxT: Double
    public let reductionFactor: Double
    /// Brackets per band: `floor(log(maxT) / log(reductionFactor)) + 1`.
    public let bracketsPerBand: Int
    private var brackets: [HyperBandBracket] = []
    private var bracketOf: [Int: Int] = [:]
    private var searchEnded = false
    private var released: (resume: [Int], stop: [Int]) = ([], [])

    public init(metric: String, mode: Mode, timeAttr: String = "training_iteration", maxT: Double = 81, reductionFactor: Double = 3) {
        self.metric = metric
        self.mode = mode
        self.timeAttr = timeAttr
        self.maxT = max(maxT, 1)
        self.reductionFactor = max(reductionFactor, 1.0001)
        bracketsPerBand = Int(log(self.maxT) / log(self.reductionFactor) + 1e-9) + 1
    }

    /// Bracket `s`'s size and first milestone (Ray's `n0` and `r0`).
    func bracketShape(_ s: Int) -> (size: Int, firstMilestone: Double) {
        let eta = reductionFactor
        let size = Int((Double(bracketsPerBand) / Double(s + 1) * pow(eta, Double(s))).rounded(.up))
        return (size, max(1, (maxT * pow(eta, -Double(s))).rounded(.down)))
    }

    /// The bracket a trial was dealt into (its index, in the order brackets were opened).
    public func bracket(of trial: Int) -> Int? { bracketOf[trial] }

    public mutating func onTrialAdd(trial: Int, config: TrialConfig) {
        if brackets.last.map({ $0.trials.count >= $0.size }) ?? true {
            let s = bracketsPerBand - 1 - brackets.count % bracketsPerBand
            let shape = bracketShape(s)
            brackets.append(HyperBandBracket(size: shape.size, milestone: shape.firstMilestone))
        }
        brackets[brackets.count - 1].add(trial)
        bracketOf[trial] = brackets.count - 1
    }

    public mutating func onResult(trial: Int, metrics: Metrics) -> SchedulerDecision {
        guard let index = bracketOf[trial], let time = metrics[timeAttr], let raw = metrics[metric], !raw.isNaN else { return .continue }
        if time >= maxT { return .stop }
        guard time >= brackets[index].milestone else { return .continue }
        brackets[index].record(trial, mode == .max ? raw : -raw)
        guard let kept = halveIfDone(index, arriving: trial) else { return .pause }
        return kept.contains(trial) ? .continue : .stop
    }

    public mutating func onTrialComplete(trial: Int) {
        guard let index = bracketOf[trial] else { return }
        brackets[index].end(trial)
        _ = halveIfDone(index, arriving: nil)
    }

    public mutating func onSearchEnd() {
        searchEnded = true
        for index in brackets.indices { _ = halveIfDone(index, arriving: nil) }
    }

    public mutating func releasePaused() -> (resume: [Int], stop: [Int]) {
        defer { released = ([], []) }
        return released
    }

    /// Halves bracket `index` once every live trial has reached its milestone (and no more trials
    /// join it); the paused ones are released. Returns the kept trials, or nil when not yet.
    private mutating func halveIfDone(_ index: Int, arriving: Int?) -> Set<Int>? {
        let full = brackets[index].trials.count >= brackets[index].size || searchEnded
        guard full, brackets[index].allArrived, !brackets[index].live.isEmpty else { return nil }
        let (kept, cut) = brackets[index].halve(by: reductionFactor, maxT: maxT)
        released.resume += kept.filter { $0 != arriving }.sorted()
        released.stop += cut.filter { $0 != arriving }.sorted()
        return kept
    }
}

/// One bracket of successive halving: its trials, those still in it, and their metric at the
/// current milestone.
struct HyperBandBracket {
    let size: Int
    private(set) var milestone: Double
    private(set) var trials: [Int] = []
    private(set) var live: Set<Int> = []
    private var arrived: [Int: Double] = [:]

    init(size: Int, milestone: Double) {
        self.size = size
        self.milestone = milestone
    }

    var allArrived: Bool { live.allSatisfy { arrived[$0] != nil } }

    mutating func add(_ trial: Int) {
        trials.append(trial)
        live.insert(trial)
    }

    mutating func record(_ trial: Int, _ value: Double) {
        if live.contains(trial) { arrived[trial] = value }
    }

    mutating func end(_ trial: Int) {
        live.remove(trial)
        arrived[trial] = nil
    }

    /// Keeps the best `ceil(live / eta)` (ties by trial order) and moves to the next milestone.
    mutating func halve(by eta: Double, maxT: Double) -> (kept: Set<Int>, cut: Set<Int>) {
        let ranked = live.sorted { (arrived[$0]!, -$0) > (arrived[$1]!, -$1) }
        let keep = Int((Double(ranked.count) / eta).rounded(.up))
        let kept = Set(ranked.prefix(keep)), cut = Set(ranked.dropFirst(keep))
        live = kept
        arrived = [:]
        milestone = min(milestone * eta, maxT)
        return (kept, cut)
    }
}
