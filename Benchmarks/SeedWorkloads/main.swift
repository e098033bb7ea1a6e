import Foundation
import SwiftRay
import SwiftRayTune

// The seed's workloads, timed as ANCHORS.md lists them (run in release):
//   swift run -c release swiftray-seed-bench
// Prints one line per workload: name, seconds (or MiB), and Ray 2.60's figure on this machine.

@Remote func tiny(_ x: Int) -> Int { x + 1 }

@Remote func computeTask(_ x: Int) async throws -> Int {
    try await Task.sleep(for: .seconds(1))
    return x * x
}

@Remote func fibonacci(_ n: Int) async throws -> Int {
    if n <= 1 { return n }
    let a = $fibonacci.remote(n - 1)
    let b = $fibonacci.remote(n - 2)
    return try await ray.get(a) + ray.get(b)
}

@Remote func objective(_ config: TrialConfig) -> Metrics { ["score": pow(config["a"], 2) + config["b"]] }

/// A learning curve for the ASHA rows: `quality * (1 - e^(-t/10))` over 100 iterations.
@Remote func learningCurve(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        for step in 1...100 { try await session.report(["accuracy": session.config["quality"] * (1 - exp(-Double(step) / 10))]) }
    }
}

@Remote func monteCarloPi(_ numSamples: Int, _ seed: UInt64) -> Int {
    var state = seed
    var inside = 0
    for _ in 0..<numSamples {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let x = Double(z >> 40) * 0x1.0p-24, y = Double(z & 0xFF_FFFF) * 0x1.0p-24
        if x * x + y * y <= 1 { inside += 1 }
    }
    return inside
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func report(_ name: String, _ value: Double, unit: String = "s", ray: String) {
    let padded = name.padding(toLength: 62, withPad: " ", startingAt: 0)
    print("\(padded) \(String(format: "%9.3f", value)) \(unit)   (Ray 2.60: \(ray))")
}

/// Resident memory of a process, in MiB, from /proc.
func residentMiB(_ pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kib / 1024
}

let clock = ContinuousClock()
let numCPUs = 2

var start = clock.now
let ray = try await Ray.start(numCPUs: numCPUs)
_ = try await ray.get($tiny.remote(1))
report("start to first task result (start + one tiny task)", seconds(clock.now - start), ray: "5.0 s")

// Idle right after starting, before any workload grows the driver's heap: the driver plus its
// prestarted workers.
_ = try await ray.get([$tiny.remote(1), $tiny.remote(2)])
try await Task.sleep(for: .milliseconds(500))
let workers = await ray.workerPIDs()
let memory = residentMiB(getpid()) + workers.map(residentMiB).reduce(0, +)
report("resident memory of an idle local cluster (\(workers.count + 1) processes)", memory, unit: "MiB", ray: "977 MiB")

start = clock.now
let squares = try await ray.get((0..<10).map { $computeTask.remote($0) })
precondition(squares == (0..<10).map { $0 * $0 })
report("10 x compute_task (sleep 1 s) on \(numCPUs) CPUs", seconds(clock.now - start), ray: "5.30 s")

start = clock.now
let fib = try await ray.get($fibonacci.remote(10))
precondition(fib == 55)
report("nested fibonacci(10) (177 tasks)", seconds(clock.now - start), ray: "14.87 s")

start = clock.now
let inside = try await ray.get((0..<20).map { $monteCarloPi.remote(1_000_000, UInt64($0 + 1)) })
let pi = 4 * Double(inside.reduce(0, +)) / 20e6
precondition(abs(pi - Double.pi) < 0.01)
report("Monte Carlo pi, 20 tasks x 1M samples", seconds(clock.now - start), ray: "6.75 s")

// The seed's Tune example, from Tuner construction to the best result; then trials per second.
let space: [String: Domain] = ["a": .uniform(0, 1), "b": .uniform(0, 20)]
start = clock.now
let best = try await Tuner($objective.remote, paramSpace: space, tuneConfig: TuneConfig(numSamples: 100)).fit()
    .bestResult(metric: "score", mode: .min)
precondition(best.metrics?["score"] ?? 99 < 5)
report("Tune: 100 trials of the seed's objective to the best result", seconds(clock.now - start),
       ray: "106 s default, 4.8 s reuse_actors")
start = clock.now
let many = try await Tuner($objective.remote, paramSpace: space, tuneConfig: TuneConfig(numSamples: 10_000)).fit()
precondition(many.errors.isEmpty && many.count == 10_000)
report("Tune: trials per second (10,000 trivial trials)", 10_000 / seconds(clock.now - start), unit: "/s", ray: "~21/s reuse_actors")
for (label, scheduler) in [("FIFO", FIFOScheduler() as any TrialScheduler), ("ASHA", ASHAScheduler(metric: "accuracy", mode: .max))] {
    start = clock.now
    let curves = try await Tuner(
        $learningCurve.options(generatorBackpressure: 1).remote, paramSpace: ["quality": .uniform(0, 1)],
        tuneConfig: TuneConfig(numSamples: 64, metric: "accuracy", mode: .max, seed: 11, scheduler: scheduler)
    ).fit()
    let elapsed = seconds(clock.now - start)
    let iterations = curves.map(\.history.count).reduce(0, +)
    let bestAccuracy = try curves.bestResult().metrics?["accuracy"] ?? 0
    report("Tune \(label): 64 trials x 100 iterations (\(iterations) run, best \(String(format: "%.4f", bestAccuracy)))", elapsed,
           ray: label == "ASHA" ? "143 s, 4.6 s reuse_actors" : "-")
}
try await ray.shutdown()

