// Autoscaler latency: a head with no CPUs and the local provider (nodes as daemons on this
// machine); a one-CPU task's time from submission to running on the node launched for it, and
// the time for an idle node to go after its timeout. Five rounds (each waits for the cluster to
// shrink back to the head).
//   swift build -c release --product swiftray --product swiftray-autoscaler-bench
//   .build/release/swiftray-autoscaler-bench
import Foundation
import SwiftRay

@Remote func startedAt() -> Double { Date().timeIntervalSince1970 }

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func launchedNodes() async throws -> Int {
    try await ray.nodes().filter { $0.alive && $0.total.keys.contains { $0.hasPrefix("autoscaler-node-") } }.count
}

let folder = NSTemporaryDirectory() + "swiftray-autoscaler-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
try "idleTimeoutSeconds: 1\nnodeTypes:\n  - {name: cpu1, resources: {CPU: 1}, maxWorkers: 1}\n"
    .write(toFile: "\(folder)/autoscaler.yaml", atomically: true, encoding: .utf8)
let swiftray = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("swiftray").path
let start = Process()
start.executableURL = URL(fileURLWithPath: swiftray)
start.arguments = ["start", "--head", "--num-cpus", "0", "--port", "0", "--dashboard-port", "0", "--temp-dir", folder,
                   "--autoscaling-config", "\(folder)/autoscaler.yaml"]
try start.run()
start.waitUntilExit()
defer {
    let stop = Process()
    stop.executableURL = URL(fileURLWithPath: swiftray)
    stop.arguments = ["stop", "--temp-dir", folder]
    try? stop.run()
    stop.waitUntilExit()
}
let address = try String(contentsOfFile: "\(folder)/head_address", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
let token = try String(contentsOfFile: "\(folder)/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
try await Ray.start(address: address, token: token)
var toFirstTask: [Double] = [], toRemoval: [Double] = []
for _ in 0..<5 {
    let submitted = Date().timeIntervalSince1970
    let ranAt = try await $startedAt.remote().get(timeout: .seconds(60))
    toFirstTask.append(ranAt - submitted)
    let idleFrom = ContinuousClock.now
    while try await launchedNodes() > 0 { try await Task.sleep(for: .milliseconds(20)) }
    toRemoval.append(seconds(ContinuousClock.now - idleFrom))
}
let median = { (values: [Double]) in values.sorted()[values.count / 2] }
print(String(format: "RESULT autoscaler: demand to the new node's first task median %.2f s (min %.2f, max %.2f); idle node gone %.2f s after its task (timeout 1 s)",
             median(toFirstTask), toFirstTask.min()!, toFirstTask.max()!, median(toRemoval)))
try await ray.shutdown()
