// Allreduce bandwidth of SwiftRayCollective with 2 members on this machine, as
// Benchmarks/collective_gloo.py measures torch.distributed (gloo): Float32 buffers of 1-256 MB,
// algorithm bandwidth = buffer bytes / seconds per allreduce (what nccl-tests call algbw).
//   swift run -c release swiftray-collective-bench
import Foundation
import SwiftRay
import SwiftRayCollective

@RayActor
distributed actor BenchMember {
    private var group: CollectiveGroup?

    distributed func join(rank: Int) async throws {
        group = try await CollectiveGroup.join("bench", rank: rank, worldSize: 2)
    }

    /// Seconds per allreduce of `elements` Floats, after a warm-up, between barriers.
    distributed func timeAllreduce(elements: Int, repeats: Int) async throws -> Double {
        guard let group else { throw CollectiveError.invalidArgument("not joined") }
        var buffer = [Float](repeating: 1, count: elements)
        try await group.allreduce(&buffer)
        try await group.barrier()
        let start = ContinuousClock.now
        for _ in 0..<repeats { try await group.allreduce(&buffer) }
        let elapsed = ContinuousClock.now - start
        guard repeats > 60 || buffer[0] == Float(1 << (repeats + 1)) else { throw CollectiveError.invalidArgument("wrong sum \(buffer[0])") }
        return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) / Double(repeats)
    }
}

@main
struct CollectiveBench {
    static func main() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        let members = [try await BenchMember.create(), try await BenchMember.create()]
        let joins = members.enumerated().map { $1.remote.join(rank: $0) }
        for join in joins { _ = try await join.get() }
        print("swift-ray allreduce, 2 members (shared memory), Float32")
        // Latency first: a small model's gradients (2,242 Doubles = 17.5 KiB, the Train example's MLP).
        let small = members.map { $0.remote.timeAllreduce(elements: 4_484, repeats: 2_000) }
        var latency = 0.0
        for ref in small { latency = max(latency, try await ref.get()) }
        print(String(format: "17.5 KiB allreduce: %.1f us", latency * 1e6))
        print("size_MB  seconds/op  algbw_GB/s")
        for megabytes in [1, 4, 16, 64, 256] {
            let repeats = megabytes >= 64 ? 5 : 20
            let refs = members.map { $0.remote.timeAllreduce(elements: megabytes * (1 << 20) / 4, repeats: repeats) }
            var seconds = 0.0
            for ref in refs { seconds = max(seconds, try await ref.get()) }
            let bandwidth = Double(megabytes * (1 << 20)) / seconds / 1e9
            print(String(format: "%7d  %10.5f  %10.2f", megabytes, seconds, bandwidth))
        }
        try await ray.shutdown()
    }
}
