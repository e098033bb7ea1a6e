import SwiftRay

// The remote functions and actors of Ray's `ray_perf.py`, in Swift, so each row measures the same
// work as Ray's row of the same name.

@Remote func smallValue() -> String { "ok" }

@Remote func smallValueBatch(_ n: Int) async throws -> Int {
    _ = try await ray.get((0..<n).map { _ in $smallValue.remote() })
    return 0
}

@Remote func doPutSmall() throws {
    for _ in 0..<100 { _ = try ray.put(0) }
}

/// Ten puts of 80 MB each (Ray: `np.zeros(10 * 1024 * 1024, dtype=np.int64)`).
@Remote func doPut() throws {
    for _ in 0..<10 { _ = try ray.put([Int64](repeating: 0, count: 10 * 1024 * 1024)) }
}

@Remote func createObjectContainingRef() throws -> [ObjectRef<Int>] {
    try (0..<10_000).map { _ in try ray.put(1) }
}

/// Ray's `work`: n calls spread over the actors, then wait for all.
@Remote func work(_ actors: [BenchActor], _ n: Int) async throws {
    _ = try await ray.get((0..<n).map { actors[$0 % actors.count].remote.smallValue() })
}

@Remote func asyncActorWork(_ actors: [AsyncBenchActor], _ n: Int) async throws {
    _ = try await ray.get((0..<n).map { actors[$0 % actors.count].remote.smallValue() })
}

/// Ray's `Actor` (num_cpus=0).
@RayActor
distributed actor BenchActor {
    distributed func smallValue() -> String { "ok" }
    distributed func smallValueArg(_ x: Int) -> String { "ok" }
    distributed func smallValueBatch(_ n: Int) async throws {
        _ = try await ray.get((0..<n).map { _ in $smallValue.remote() })
    }
}

/// Ray's `AsyncActor`.
@RayActor
distributed actor AsyncBenchActor {
    distributed func smallValue() async -> String { "ok" }
    distributed func smallValueWithArg(_ x: Int) async -> String { "ok" }
}

/// Ray's `Client`: drives calls on server actors from inside an actor.
@RayActor
distributed actor BenchClient {
    let servers: [BenchActor]

    init(actorSystem: RayActorSystem, servers: [BenchActor]) {
        self.actorSystem = actorSystem
        self.servers = servers
    }

    distributed func smallValueBatch(_ n: Int) async throws {
        _ = try await ray.get(servers.flatMap { server in (0..<n).map { _ in server.remote.smallValue() } })
    }

    distributed func smallValueBatchArg(_ n: Int) async throws {
        let x = try ray.put(0)
        _ = try await ray.get(servers.flatMap { server in (0..<n).map { _ in server.remote.smallValueArg(x) } })
    }
}

/// `Client` for async servers.
@RayActor
distributed actor AsyncBenchClient {
    let servers: [AsyncBenchActor]

    init(actorSystem: RayActorSystem, servers: [AsyncBenchActor]) {
        self.actorSystem = actorSystem
        self.servers = servers
    }

    distributed func smallValueBatch(_ n: Int) async throws {
        _ = try await ray.get(servers.flatMap { server in (0..<n).map { _ in server.remote.smallValue() } })
    }
}
