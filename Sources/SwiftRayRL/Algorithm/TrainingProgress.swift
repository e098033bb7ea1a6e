import Foundation

/// The counters and recent episodes behind each `RLResult`, and the return curve.
struct TrainingProgress: Sendable, Codable {
    var iteration = 0, episodesLifetime = 0, envStepsLifetime = 0
    var recentReturns: [Double] = []
    var recentLengths: [Int] = []
    var curveSteps: [Int] = []
    var curveReturns: [Double] = []

    /// Counts an iteration's batches and gives its result (timings in seconds).
    mutating func record(_ batches: [SampleBatch], sampleSeconds: Double, learnSeconds: Double) -> RLResult {
        iteration += 1
        let steps = batches.map(\.count).reduce(0, +)
        let finished = batches.flatMap(\.episodeReturns)
        envStepsLifetime += steps
        episodesLifetime += finished.count
        recentReturns = Array((recentReturns + finished).suffix(100))
        recentLengths = Array((recentLengths + batches.flatMap(\.episodeLengths)).suffix(100))
        let mean = recentReturns.isEmpty ? .nan : recentReturns.reduce(0, +) / Double(recentReturns.count)
        curveSteps.append(envStepsLifetime)
        curveReturns.append(mean)
        return RLResult(
            iteration: iteration, episodeReturnMean: mean,
            episodeReturnMin: recentReturns.min() ?? .nan, episodeReturnMax: recentReturns.max() ?? .nan,
            episodeLengthMean: recentLengths.isEmpty ? .nan : Double(recentLengths.reduce(0, +)) / Double(recentLengths.count),
            episodes: finished.count, episodesLifetime: episodesLifetime, envSteps: steps, envStepsLifetime: envStepsLifetime,
            sampleSeconds: sampleSeconds, learnSeconds: learnSeconds)
    }

    /// The curve as an SVG document.
    func svg(title: String) -> String { LearningCurve.svg(Array(zip(curveSteps, curveReturns)), title: title) }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let duration = ContinuousClock.now - start
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
