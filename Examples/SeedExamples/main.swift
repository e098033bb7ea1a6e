import Foundation
import SwiftRay
import SwiftRayRL
import SwiftRayServe
import SwiftRayTune

// The examples of the Ray overview, run on an embedded local cluster:
//   swift run -c release swiftray-examples [name ...]
// With no names every example runs. Each prints its result and its wall time.

let clock = ContinuousClock()

@MainActor
func timed<T>(_ title: String, _ body: @MainActor () async throws -> T) async rethrows -> T {
    let start = clock.now
    let value = try await body()
    let elapsed = clock.now - start
    print("[\(title)] \(String(format: "%.3f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)) s")
    return value
}

let examples: [(name: String, run: @MainActor () async throws -> Void)] = [
    ("tasks", {
        // 10 tasks of 1 s each, in parallel on the node's CPUs.
        let results = try await timed("tasks: 10 x computeTask") {
            try await ray.get((0..<10).map { $computeTask.remote($0) })
        }
        print(results)  // [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
    }),
    ("actors", {
        let (results, finalValue) = try await timed("actors: Counter, 5 x increment") {
            let counter = try await ray.actor(Counter.self)
            let futures = (0..<5).map { _ in counter.remote.increment() }
            let results = try await ray.get(futures)
            return (results, try await counter.getValue())  // a direct distributed call
        }
        print(results)     // [1, 2, 3, 4, 5]
        print(finalValue)  // 5
    }),
    ("objects", {
        // One large array put once, read by ten tasks.
        let largeArray = (0..<1_000_000).map { _ in Double.random(in: 0..<1) }
        let means = try await timed("objects: put 1M doubles, 10 x processData") {
            let dataRef = try ray.put(largeArray)
            return try await ray.get((0..<10).map { _ in $processData.remote(dataRef) })
        }
        print("means:", means.map { String(format: "%.4f", $0) })
    }),
    ("fibonacci", {
        let result = try await timed("dynamic task graph: fibonacci(10)") {
            try await ray.get($fibonacci.remote(10))
        }
        print("fibonacci(10) =", result)  // 55
    }),
    ("pi", {
        let tasks = 20, samples = 1_000_000
        let inside = try await timed("Monte Carlo pi: \(tasks) x \(samples) samples") {
            try await ray.get((0..<tasks).map { $monteCarloPi.remote(samples, seed: UInt64($0 + 1)) })
        }
        print("Pi estimate:", 4 * Double(inside.reduce(0, +)) / Double(tasks * samples))
    }),
    ("files", {
        // Large-scale data processing: one task per file.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftray-files-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try (1...20).map { index -> String in
            let url = folder.appendingPathComponent("file\(index).csv")
            let rows = (0..<1000).map { "\($0),\(index)" }.joined(separator: "\n")
            try ("id,value\n" + rows).write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let summaries = try await timed("data processing: \(files.count) files") {
            try await ray.get(files.map { $processFile.remote($0) })
        }
        print("rows:", summaries.map(\.rows).reduce(0, +), "total:", summaries.map(\.total).reduce(0, +))
    }),
    ("data", {
        // The same job with SwiftRayData: a dataset over the folder instead of a task per file.
        try await timed("SwiftRayData: 20 files read, cleaned, grouped and written") { try await DataExamples.etl() }
    }),
    ("data-train", {
        let result = try await timed("SwiftRayData -> Train: 20,000 rows streamed to 2 workers, 40 epochs") { try await DataExamples.ingest() }
        let last = result.metrics
        print(String(format: "y = %.3f x + %.3f (rows per epoch %.0f, mse %.5f)", last["w"] ?? .nan, last["b"] ?? .nan, last["rows"] ?? .nan, last["mse"] ?? .nan))
    }),
    ("pipeline", {
        // preprocess -> train -> evaluate, each step a task consuming the previous step's ref.
        let score = try await timed("ML pipeline") {
            let dataRef = try ray.put((0..<2000).map { Double($0 % 100) / 10 - 0.5 })
            let preprocessed = $preprocessData.remote(dataRef)
            let model = $trainModel.remote(preprocessed, TrainConfig(learningRate: 0.02, epochs: 500))
            let testData = $preprocessData.remote((0..<200).map { Double($0) / 20 })
            return try await ray.get($evaluateModel.remote(model, testData))
        }
        print("R^2 score:", String(format: "%.4f", score))
    }),
    ("batches", {
        // Best practice: 1,000 tasks of 1,000 numbers rather than 1,000,000 tiny tasks.
        let total = 1_000_000, batchSize = 1000
        let results = try await timed("batch tasks: \(total / batchSize) batches of \(batchSize)") {
            let refs = stride(from: 0, to: total, by: batchSize).map { start in
                $batchAdd.remote(Array(start..<min(start + batchSize, total)), 1)
            }
            return try await ray.get(refs)
        }
        print("numbers:", results.map(\.count).reduce(0, +), "last:", results.last?.last ?? -1)
    }),
    ("resources", {
        // Best practice: declare resources. This node has no GPU, so the request is reported.
        do {
            let ref = $gpuTask.options(numCPUs: 2, numGPUs: 1, memory: 1000 * 1024 * 1024).remote([1, 2, 3])
            print(try await ray.get(ref))
        } catch let error as TaskUnschedulableError {
            print("gpuTask:", error)
        }
    }),
    ("retries", {
        let message = try await timed("retries: unreliableTask (maxRetries: 3, retryExceptions: true)") {
            try await ray.get($unreliableTask.options(maxRetries: 3, retryExceptions: true).remote())
        }
        print(message)
    }),
    ("tune", {
        // Ray Tune: 100 trials of the objective over a uniform search space, the best by score.
        let best = try await timed("Tune: 100 trials") {
            let tuner = Tuner($objective.remote, paramSpace: ["a": .uniform(0, 1), "b": .uniform(0, 20)],
                              tuneConfig: TuneConfig(numSamples: 100))
            return try await tuner.fit().bestResult(metric: "score", mode: .min)
        }
        print(best)
    }),
    ("tune-asha", {
        // ASHA stops poor trials early: 64 learning curves of 100 epochs.
        let results = try await timed("Tune: ASHA over 64 trials") {
            let asha = ASHAScheduler(metric: "accuracy", mode: .max, maxT: 100, gracePeriod: 1, reductionFactor: 4)
            return try await Tuner($trainCurve.options(generatorBackpressure: 1).remote, paramSpace: ["quality": .uniform(0, 1)],
                                   tuneConfig: TuneConfig(numSamples: 64, scheduler: asha)).fit()
        }
        print("epochs run: \(results.map(\.history.count).reduce(0, +)) of 6400")
        print(try results.bestResult(metric: "accuracy", mode: .max))
    }),
    ("tune-pbt", {
        // Population Based Training: the worst quarter copies the best's weights and perturbs its lr.
        let results = try await timed("Tune: PBT over a population of 8") {
            let pbt = PopulationBasedTraining(metric: "loss", mode: .min, perturbationInterval: 5,
                                              hyperparamMutations: ["lr": .domain(.loguniform(0.001, 0.5))], seed: 1)
            // A quarter CPU per trial: the whole population trains at once.
            return try await Tuner($trainBowl.options(numCPUs: 0.25, generatorBackpressure: 1).remote, paramSpace: ["lr": .loguniform(0.001, 0.01)],
                                   tuneConfig: TuneConfig(numSamples: 8, seed: 1, scheduler: pbt)).fit()
        }
        let best = try results.bestResult(metric: "loss", mode: .min)
        print("best loss \(best.metrics?["loss"] ?? .nan) with lr \(best.config["lr"]) (every trial started below lr 0.01)")
    }),
    ("serve", {
        // Ray Serve: the seed's ModelPredictor over HTTP, then a TextClassifier with 4 replicas.
        let base = try await Serve.start(port: Int(ProcessInfo.processInfo.environment["SWIFTRAY_SERVE_PORT"] ?? "") ?? 8000)
        let modelPath = ServeExampleApplications.defaultModelPath
        _ = try await timed("Serve: ModelPredictor deployed") {
            try await Serve.run(ModelPredictor.bind { try await ModelPredictor.create(modelPath: modelPath, options: $0) })
        }
        print(try await post(base + "/", #"{"features": [1, 2, 3]}"#))  // {"prediction":4.75}
        _ = try await timed("Serve: TextClassifier with 4 replicas deployed") {
            try await Serve.run(TextClassifier.bind(DeploymentConfig(numReplicas: 4)), name: "classifier", routePrefix: "/classify")
        }
        for text in ["I love how fast this is", "slow and broken", "it is a model"] {
            print(text, "->", try await post(base + "/classify", #"{"text": "\#(text)"}"#))
        }
        print("(`swiftray-examples serve-seed` keeps both serving for curl until Ctrl-C)")
        await Serve.shutdown()
    }),
    ("train", {
        // Ray Train: an MLP classifier, data-parallel on 2 workers (the seed's ScalingConfig(num_workers=4,
        // use_gpu=True) on this 2-core, GPU-less machine), 5 epochs of 60k samples.
        let workers = Int(ProcessInfo.processInfo.environment["SWIFTRAY_TRAIN_WORKERS"] ?? "") ?? 2
        let result = try await timed("Train: DataParallelTrainer, \(workers) workers, fit()") { try await BlobClassifier.run(workers: workers) }
        let last = result.metrics
        print(String(format: "workers loaded their shards in %.3f s, then trained %.0f samples in %.3f s: %.0f samples/s",
                     last["data_seconds"] ?? .nan, last["samples"] ?? .nan, last["train_seconds"] ?? .nan,
                     (last["samples"] ?? .nan) / (last["train_seconds"] ?? .nan)))
        for metrics in result.metricsHistory {
            print("epoch \(Int(metrics["epoch"] ?? 0)): loss \(String(format: "%.4f", metrics["loss"] ?? .nan)), test accuracy \(String(format: "%.4f", metrics["accuracy"] ?? .nan))")
        }
    }),
    ("rl", {
        // RLlib: the seed's loop, PPO on CartPole-v1 (the seed's `.rollouts(num_rollout_workers=4)` spelling,
        // two of them here on 2 cores).
        let iterations = Int(ProcessInfo.processInfo.environment["SWIFTRAY_RL_ITERATIONS"] ?? "") ?? 10
        let algo = try await PPOConfig().environment("CartPole-v1").rollouts(numRolloutWorkers: 2).build()
        for i in 0..<iterations {
            let result = try await algo.train()
            print("Iteration \(i): reward = \(String(format: "%.1f", result.episodeRewardMean)) (\(result.envStepsLifetime) steps, "
                  + String(format: "sample %.2f s, learn %.2f s)", result.sampleSeconds, result.learnSeconds))
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftray-ppo-cartpole").path
        let checkpoint = try algo.save(to: folder)
        print("checkpoint: \(checkpoint), return curve beside it: \(folder)/returns.svg")
        print("greedy action for an upright pole leaning right: \(algo.computeAction([0, 0, 0.05, 0]))")
        algo.stop()
    }),
    ("timeout", {
        let slow = $slowTask.remote(30)
        do {
            _ = try await timed("timeout: get(timeout: 1 s)") { try await ray.get(slow, timeout: .seconds(1)) }
        } catch is GetTimeoutError {
            print("Task timeout")
            try ray.cancel(slow)
        }
    }),
]

/// Programs that run until stopped, only when named.
let services: [(name: String, run: @MainActor () async throws -> Void)] = [
    ("serve-seed", {
        // The seed's two deployments, served until Ctrl-C so curl can reach them.
        let base = try await Serve.start(port: Int(ProcessInfo.processInfo.environment["SWIFTRAY_SERVE_PORT"] ?? "") ?? 8000)
        try await Serve.run(ModelPredictor.bind {
            try await ModelPredictor.create(modelPath: ServeExampleApplications.defaultModelPath, options: $0)
        })
        try await Serve.run(TextClassifier.bind(DeploymentConfig(numReplicas: 4)), name: "classifier", routePrefix: "/classify")
        print("serving until Ctrl-C:")
        print("  curl -X POST \(base)/ -H 'Content-Type: application/json' -d '{\"features\": [1, 2, 3]}'")
        print("  curl -X POST \(base)/classify -d '{\"text\": \"I love how fast this is\"}'")
        await Signals.wait()
        await Serve.shutdown()
    }),
    ("serve-host", {
        // A Serve host: deploys the configs `swiftray serve deploy FILE` sends (see serve_config.yaml).
        ServeExampleApplications.register()
        print("Serve host: builders model_predictor, text_classifier; waiting for configs (Ctrl-C stops)")
        let host = Task { try await Serve.serveConfigs() }
        await Signals.wait()
        host.cancel()
        await Serve.shutdown()
    }),
]

let selected = Set(CommandLine.arguments.dropFirst())
let unknown = selected.subtracting(examples.map(\.name) + services.map(\.name))
if !unknown.isEmpty {
    print("unknown example(s): \(unknown.sorted().joined(separator: ", ")); choose from \((examples.map(\.name) + services.map(\.name)).joined(separator: ", "))")
    exit(2)
}
// Errors end the program with their message (a top-level `throw` would print a crash report).
let ray: Ray
do {
    ray = try await timed("Ray.start()") { try await Ray.start() }
    if let url = ray.dashboardURL { print("dashboard:", url) }
} catch {
    FileHandle.standardError.write(Data("swiftray-examples: cannot start: \(error)\n".utf8))
    exit(1)
}
do {
    for example in examples where selected.isEmpty || selected.contains(example.name) {
        print("== \(example.name)")
        try await example.run()
    }
    for service in services where selected.contains(service.name) {
        print("== \(service.name)")
        try await service.run()
    }
    try await ray.shutdown()
} catch {
    FileHandle.standardError.write(Data("swiftray-examples: \(error)\n".utf8))
    exit(1)
}
