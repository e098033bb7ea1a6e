import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SwiftRay
import SwiftRayServe

// Serve's side of Benchmarks/serve_compare.sh: a no-op deployment behind the proxy, loaded by
// wrk (HTTP keep-alive, 64 connections) with 1 and 2 replicas; also the time from `Serve.run` to
// the first answer and the resident memory of driver + replicas.
//   swift build -c release && .build/release/swiftray-serve-bench [seconds]

/// Answers every request with a small JSON body.
@RayActor
distributed actor NoOp: Deployment {
    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        try .json(["ok": true])
    }
}

/// A model with a fixed cost per call (2 ms, however many inputs; a stand-in for one forward pass),
/// one call at a time per replica: `/single` calls it per request, `/batched` per batch of up to 32.
@RayActor
distributed actor FixedCostModel: Deployment {
    lazy var batcher = ServeBatcher<Int, Int>(maxBatchSize: 32, batchWaitTimeout: .milliseconds(5)) { inputs in
        usleep(2000)
        return inputs
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        if request.path.hasSuffix("/batched") { return try .json(["ok": try await batcher.call(1)]) }
        usleep(2000)  // actor-isolated and synchronous: calls on this replica take turns
        return try .json(["ok": 1])
    }
}

let seconds = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 10

func residentMiB(_ pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kib / 1024
}

/// Runs wrk against `url`; returns its requests per second and p50/p99 latency lines.
func wrk(_ url: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
    process.arguments = ["-t2", "-c64", "-d\(seconds)s", "--latency", url]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    let rps = lines.first { $0.hasPrefix("Requests/sec:") } ?? "Requests/sec: ?"
    let p50 = lines.first { $0.hasPrefix("50%") } ?? "50% ?"
    let p99 = lines.first { $0.hasPrefix("99%") } ?? "99% ?"
    let errors = lines.first { $0.hasPrefix("Non-2xx") || $0.hasPrefix("Socket errors") } ?? "no errors"
    return "\(rps)  p\(p50)  p\(p99)  (\(errors))"
}

let ray = try await Ray.start(numCPUs: 2, includeDashboard: false)
let base = try await Serve.start(port: 0)
for replicas in [1, 2] {
    let config = DeploymentConfig(numReplicas: replicas, maxOngoingRequests: 64, maxQueuedRequests: 1000)
    let started = ContinuousClock.now
    try await Serve.run(NoOp.bind(config), name: "noop")
    var request = URLRequest(url: URL(string: base + "/")!)
    request.httpMethod = "GET"
    _ = try await URLSession.shared.data(for: request)
    let firstAnswer = ContinuousClock.now - started
    print("swift-ray serve, \(replicas) replica(s): run to first answer \(firstAnswer)")
    print("swift-ray serve, \(replicas) replica(s): \(try wrk(base + "/"))")
    let workers = await ray.workerPIDs()
    let memory = residentMiB(getpid()) + workers.map(residentMiB).reduce(0, +)
    let each = ([getpid()] + workers).map { String(format: "%.0f", residentMiB($0)) }.joined(separator: " + ")
    print("swift-ray serve, \(replicas) replica(s): resident \(String(format: "%.0f", memory)) MiB (driver + \(workers.count) workers: \(each))")
    try await Serve.delete("noop")
}
// The proxy alone: a path no application serves is answered (404) without any replica call.
print("swift-ray serve, proxy alone (404, no replica call): \(try wrk(base + "/nowhere/at/all"))")
try await Serve.run(FixedCostModel.bind(DeploymentConfig(maxOngoingRequests: 64, maxQueuedRequests: 1000)), name: "model")
for path in ["single", "batched"] {
    print("swift-ray serve, fixed-cost model, \(path): \(try wrk(base + "/\(path)"))")
}
await Serve.shutdown()
try await ray.shutdown()
