import Foundation
import SwiftRay
import SwiftRayTune

// The seed's remote functions, in Swift. Each is an ordinary function; `@Remote` adds `$name`,
// whose `.remote(...)` runs it as a task on a worker process.

// 1. Tasks: a remote function, run ten at a time.
@Remote func computeTask(_ x: Int) async throws -> Int {
    try await Task.sleep(for: .seconds(1))  // simulate work
    return x * x
}

// 3. Objects: many tasks read one large array put once.
@Remote func processData(_ data: [Double]) -> Double {
    data.reduce(0, +) / Double(data.count)
}

// 4. Dynamic task graphs: tasks that submit tasks and wait for them.
@Remote func fibonacci(_ n: Int) async throws -> Int {
    if n <= 1 { return n }
    let a = $fibonacci.remote(n - 1)
    let b = $fibonacci.remote(n - 2)
    return try await ray.get(a) + ray.get(b)
}

// Scientific computing: Monte Carlo estimate of pi.
@Remote func monteCarloPi(_ numSamples: Int, seed: UInt64) -> Int {
    var generator = SeededRandom(seed: seed)  // each Monte Carlo task draws its own stream
    var inside = 0
    for _ in 0..<numSamples {
        let x = generator.unit(), y = generator.unit()
        if x * x + y * y <= 1 { inside += 1 }
    }
    return inside
}

// Large-scale data processing: one task per file.
@Remote func processFile(_ path: String) throws -> FileSummary {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ExampleError.cannotOpen(path) }
    // "transform": sum the last column of every data row.
    let values = text.split(separator: "\n").dropFirst().compactMap { Double($0.split(separator: ",").last ?? "") }
    return FileSummary(path: path, rows: values.count, total: values.reduce(0, +))
}

struct FileSummary: Codable, Sendable {
    var path: String
    var rows: Int
    var total: Double
}

// The ML pipeline: preprocess -> train -> evaluate, passing refs between tasks.
struct Dataset: Codable, Sendable {
    var xs: [Double]
    var ys: [Double]
}

struct LinearModel: Codable, Sendable {
    var slope: Double
    var intercept: Double
}

struct TrainConfig: Codable, Sendable {
    var learningRate: Double
    var epochs: Int
}

@Remote func preprocessData(_ raw: [Double]) -> Dataset {
    // "clean and transform": drop negatives, then y = 3x + 2 with a little deterministic noise.
    let xs = raw.filter { $0 >= 0 }
    let ys = xs.enumerated().map { 3 * $1 + 2 + (Double($0 % 7) - 3) * 0.01 }
    return Dataset(xs: xs, ys: ys)
}

@Remote func trainModel(_ data: Dataset, _ config: TrainConfig) -> LinearModel {
    var model = LinearModel(slope: 0, intercept: 0)
    let n = Double(data.xs.count)
    for _ in 0..<config.epochs {
        var gradSlope = 0.0, gradIntercept = 0.0
        for (x, y) in zip(data.xs, data.ys) {
            let error = model.slope * x + model.intercept - y
            gradSlope += error * x
            gradIntercept += error
        }
        model.slope -= config.learningRate * gradSlope / n
        model.intercept -= config.learningRate * gradIntercept / n
    }
    return model
}

@Remote func evaluateModel(_ model: LinearModel, _ test: Dataset) -> Double {
    // R^2 score.
    let mean = test.ys.reduce(0, +) / Double(test.ys.count)
    var residual = 0.0, totalSquares = 0.0
    for (x, y) in zip(test.xs, test.ys) {
        residual += pow(model.slope * x + model.intercept - y, 2)
        totalSquares += pow(y - mean, 2)
    }
    return 1 - residual / totalSquares
}

// Best practice: batch small work into fewer, larger tasks.
@Remote func batchAdd(_ numbers: [Int], _ value: Int) -> [Int] {
    numbers.map { $0 + value }
}

// Best practice: resources.
@Remote func gpuTask(_ data: [Double]) -> Double { data.reduce(0, +) }

// Error handling: fails on its first two attempts, then succeeds.
@Remote func unreliableTask() throws -> String {
    let attempt = ray.taskContext?.attempt ?? 0
    if attempt < 2 { throw ExampleError.flaky(attempt: attempt) }
    return "succeeded on attempt \(attempt + 1)"
}

@Remote func slowTask(_ seconds: Double) async throws -> String {
    try await Task.sleep(for: .seconds(seconds))
    return "done"
}

enum ExampleError: Error, CustomStringConvertible {
    case flaky(attempt: Int)
    case cannotOpen(String)

    var description: String {
        switch self {
        case .flaky(let attempt): "transient failure on attempt \(attempt + 1)"
        case .cannotOpen(let path): "cannot open \(path)"
        }
    }
}

// 2. Actors: a stateful remote object, as a Swift distributed actor in its own worker process.
@RayActor
distributed actor Counter {
    var value = 0

    distributed func increment() -> Int {
        value += 1
        return value
    }

    distributed func getValue() -> Int { value }
}

/// The seed's Ray Tune objective: a score to minimize over `a` and `b`.
@Remote func objective(_ config: TrialConfig) -> Metrics {
    ["score": pow(config["a"], 2) + config["b"]]
}

/// A learning curve for the ASHA example: accuracy rising toward `quality`, one report per epoch.
@Remote func trainCurve(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        for epoch in 1...100 {
            try await session.report(["accuracy": session.config["quality"] * (1 - exp(-Double(epoch) / 10))])
        }
    }
}

/// The PBT example's model: gradient steps on `(w - 3)^2` from w = 0; the learning rate decides
/// how fast it gets there (above 1 it diverges). Its checkpoint is the weight.
struct Bowl: ClassTrainable {
    var weight = 0.0
    let rate: Double

    init(config: TrialConfig) { rate = config["lr"] }

    mutating func step() -> Metrics {
        weight -= rate * 2 * (weight - 3)
        return ["loss": (weight - 3) * (weight - 3)]
    }

    func save() throws -> Checkpoint { try Checkpoint(weight) }
    mutating func restore(from checkpoint: Checkpoint) throws { weight = try checkpoint.decode(Double.self) }
}

@Remote func trainBowl(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config, Bowl.self, checkpointEvery: 1, maxIterations: 60)
}
