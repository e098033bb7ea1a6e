import Foundation
import RayTesting
import SwiftRay

// Object transfer between nodes, in GB/s (run in release, after `swift build -c release`, which
// builds the `swiftray` command this starts the nodes with):
//   swift run -c release swiftray-transfer-bench [megabytes] [rounds]
// Starts a head and two nodes on this machine (each with its own store, as on separate machines),
// makes an object on node a, and times a task on node b that maps it: the first call pulls it from a
// in chunks, the second finds it cached; the difference is the transfer.

/// `megabytes` MiB of bytes, made on the node that runs it (so they live in its store).
@Remote func makeBytes(_ megabytes: Int, _ seed: UInt8) -> [UInt8] {
    [UInt8](repeating: seed, count: megabytes << 20)
}

/// Maps the object in this node's store (pulled here first if needed) and reads its ends.
@Remote func touch(_ data: ObjectRef<[UInt8]>) async throws -> Int {
    let view = try await ray.view(data)
    return Int(view[0]) + Int(view[view.count - 1]) + view.count
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let megabytes = arguments.first ?? 256
let rounds = arguments.dropFirst().first ?? 5

let cluster = try TestCluster(cpus: 1)
defer { cluster.shutdown() }
try cluster.addNode(cpus: 1, resources: ["a": 1])
try cluster.addNode(cpus: 1, resources: ["b": 1])
let ray = try await Ray.start(address: cluster.address, token: cluster.token)
let clock = ContinuousClock()
var rates: [Double] = []
for round in 0..<rounds {
    let data = $makeBytes.options(resources: ["a": 1]).remote(megabytes, UInt8(round + 1))
    _ = try await ray.wait([data], numReturns: 1, timeout: .seconds(120))
    var first = Duration.zero, second = Duration.zero
    for pass in 0..<2 {
        let start = clock.now
        let size = try await ray.get($touch.options(resources: ["b": 1]).remote(data), timeout: .seconds(120))
        precondition(size == megabytes << 20 + 2 * (round + 1), "wrong object contents")
        if pass == 0 { first = clock.now - start } else { second = clock.now - start }
    }
    let rate = Double(megabytes << 20) / seconds(first - second) / 1e9
    rates.append(rate)
    print(String(format: "round %d: %d MiB node a -> node b: first call %.3f s, cached %.3f s: %.2f GB/s",
                 round + 1, megabytes, seconds(first), seconds(second), rate))
}
let sorted = rates.sorted()
print(String(format: "object transfer between nodes (%d MiB objects): median %.2f GB/s, best %.2f GB/s",
             megabytes, sorted[sorted.count / 2], sorted.last!))
try await ray.shutdown()
