import SwiftRay

/// Rows Ray's `ray_perf.py` lacks, for the pieces of Ray's API it does not time; Ray's figures for
/// them come from `Benchmarks/ray_extra_rows.py`, which runs the same work in Python.
extension Microbenchmark {
    func extraRows(
        _ ray: Ray, cpus: Int, row: (String, Double, () async throws -> Void) async throws -> Void
    ) async throws {
        if selected("actor pool map calls") {
            // 10,000 quick calls through `ActorPool.map` over one actor per CPU (Ray's defaults:
            // one call per actor at a time).
            var actors: [BenchActor] = []
            for _ in 0..<cpus { actors.append(try await ray.actor(BenchActor.self, options: ActorOptions(numCPUs: 0))) }
            let pool = ActorPool<BenchActor, String>(actors)
            try await row("actor pool map calls", 10_000) {
                var count = 0
                for try await _ in pool.map(0..<10_000, { actor, _ in actor.remote.smallValue() }) { count += 1 }
                precondition(count == 10_000)
            }
            for actor in actors { try ray.kill(actor) }
        }
        if selected("single client streaming generator items") {
            // One streaming task yielding 10,000 small items, each fetched as it arrives.
            try await row("single client streaming generator items", 10_000) {
                var count = 0
                for try await ref in $benchItems.remote(10_000) {
                    _ = try await ref.get()
                    count += 1
                }
                precondition(count == 10_000)
            }
        }
    }
}

/// Yields `count` small items (the streaming generator row).
@Remote func benchItems(_ count: Int) -> AsyncStream<[UInt8]> {
    AsyncStream { continuation in
        for _ in 0..<count { continuation.yield(Array("ok".utf8)) }
        continuation.finish()
    }
}
