/// A tuning experiment as its driver publishes it for the dashboard: its trials, their latest
/// metrics and a learning curve each. Kept in the key-value store under `namespace`, one key per
/// experiment, so the dashboard needs no library of its own.
public struct ExperimentStatus: Codable, Sendable, Equatable {
    /// The key-value namespace experiments are published in.
    public static let namespace = "_swiftray_tune"

    public var name: String
    /// The metric the curves show, and whether smaller or larger is better (`"min"`/`"max"`).
    public var metric: String
    public var mode: String?
    /// Microseconds since 1970 at the start and at this update.
    public var startedAt: Int64
    public var updatedAt: Int64
    /// Whether `fit()` has returned.
    public var finished: Bool
    /// Trials by status, all of them.
    public var counts: [String: Int]
    /// At most `maxTrials` of the trials: running and paused ones, then the best by the metric.
    public var trials: [ExperimentTrial]

    /// The most trials an experiment publishes (so a 10,000-trial experiment stays cheap to show).
    public static let maxTrials = 1000

    public init(
        name: String, metric: String, mode: String?, startedAt: Int64, updatedAt: Int64, finished: Bool, counts: [String: Int],
        trials: [ExperimentTrial]
    ) {
        self.counts = counts
        self.name = name
        self.metric = metric
        self.mode = mode
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.finished = finished
        self.trials = trials
    }
}

/// One trial of a published experiment.
public struct ExperimentTrial: Codable, Sendable, Equatable {
    public var trialID: String
    /// `PENDING`, `RUNNING`, `PAUSED`, `TERMINATED` or `ERROR`.
    public var status: String
    public var config: String
    public var iterations: Int
    public var latest: [String: Double]
    /// The experiment's metric, report by report (at most 200 points: evenly thinned).
    public var curve: [Double]

    public init(trialID: String, status: String, config: String, iterations: Int, latest: [String: Double], curve: [Double]) {
        self.trialID = trialID
        self.status = status
        self.config = config
        self.iterations = iterations
        self.latest = latest
        self.curve = curve
    }
}
