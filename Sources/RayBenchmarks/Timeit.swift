/// Ray's `timeit`: warm up, then several timed trials; reports operations per second as
/// `NAME per second MEAN +- STD`.
public struct Timeit: Sendable {
    /// Seconds of warm-up, and of each trial.
    public var warmup: Duration = .seconds(1)
    public var trial: Duration = .seconds(2)
    public var trials = 4

    public init(warmup: Duration = .seconds(1), trial: Duration = .seconds(2), trials: Int = 4) {
        self.warmup = warmup
        self.trial = trial
        self.trials = trials
    }

    /// One measured row.
    public struct Result: Sendable {
        public var name: String
        public var mean: Double
        public var std: Double

        /// The line Ray prints for the row.
        public var line: String { "\(name) per second \(Self.format(mean)) +- \(Self.format(std))" }

        static func format(_ value: Double) -> String {
            let rounded = (value * 100).rounded() / 100
            return rounded == rounded.rounded() ? String(Int(rounded)) + ".0" : String(rounded)
        }
    }

    /// Runs `body` repeatedly; `multiplier` counts the operations one call performs.
    public func measure(_ name: String, multiplier: Double = 1, _ body: () async throws -> Void) async throws -> Result {
        let clock = ContinuousClock()
        var start = clock.now
        var count = 0
        while clock.now - start < warmup {
            try await body()
            count += 1
        }
        let step = count / 10 + 1
        var rates: [Double] = []
        for _ in 0..<trials {
            start = clock.now
            count = 0
            while clock.now - start < trial {
                for _ in 0..<step { try await body() }
                count += step
            }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            rates.append(multiplier * Double(count) / seconds)
        }
        let mean = rates.reduce(0, +) / Double(rates.count)
        let variance = rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rates.count)
        return Result(name: name, mean: mean, std: variance.squareRoot())
    }
}
