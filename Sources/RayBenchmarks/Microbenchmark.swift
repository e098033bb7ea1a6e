import SwiftRay

/// `swiftray microbenchmark`: the rows of Ray's `ray microbenchmark` (`ray_perf.py`), same
/// workloads and names, printed as Ray prints them so the two outputs line up row by row.
public struct Microbenchmark: Sendable {
    /// Only rows whose name contains this text run (Ray's `TESTS_TO_RUN`).
    public var filter: String?
    public var timeit: Timeit
    /// CPUs of the local cluster (default: the machine's).
    public var numCPUs: Int?

    public init(filter: String? = nil, timeit: Timeit = Timeit(), numCPUs: Int? = nil) {
        self.filter = filter
        self.timeit = timeit
        self.numCPUs = numCPUs
    }

    /// Rows Ray measures that swift-ray cannot run yet, with the reason.
    public static let unsupported: [String: String] = [:]

    /// Runs the selected rows and prints each line as it is measured.
    @discardableResult
    public func run(print emit: @Sendable (String) -> Void = { print($0) }) async throws -> [Timeit.Result] {
        var results: [Timeit.Result] = []
        func row(_ name: String, multiplier: Double = 1, _ body: () async throws -> Void) async throws {
            guard selected(name) else { return }
            let result = try await timeit.measure(name, multiplier: multiplier, body)
            emit(result.line)
            results.append(result)
        }
        let ray = try await Ray.start(numCPUs: numCPUs, resources: ["custom": 100])  // as ray_perf's ray.init
        let cpus = max(1, (numCPUs ?? Self.machineCPUs) / 2)

        let value = try ray.put(0)
        try await row("single client get calls (Plasma Store)") { _ = try await ray.get(value) }
        try await row("single client put calls (Plasma Store)") { _ = try ray.put(0) }
        try await row("multi client put calls (Plasma Store)", multiplier: 1000) {
            _ = try await ray.get((0..<10).map { _ in $doPutSmall.remote() })
        }
        if selected("single client put gigabytes") {
            let array = [Int64](repeating: 0, count: 100 * 1024 * 1024)
            try await row("single client put gigabytes", multiplier: 8 * 0.1) { _ = try ray.put(array) }
        }
        try await row("single client tasks and get batch") {
            _ = try await ray.get((0..<1000).map { _ in $smallValue.remote() })
        }
        try await row("multi client put gigabytes", multiplier: 10 * 8 * 0.1) {
            _ = try await ray.get((0..<10).map { _ in $doPut.remote() })
        }
        if selected("single client get object containing 10k refs") {
            let containing = $createObjectContainingRef.remote()
            try await row("single client get object containing 10k refs") { _ = try await ray.get(containing) }
        }
        try await row("single client wait 1k refs") {
            var notReady = (0..<1000).map { _ in $smallValue.remote() }
            while !notReady.isEmpty { notReady = try await ray.wait(notReady, numReturns: 1).notReady }
        }
        try await row("single client tasks sync") { _ = try await ray.get($smallValue.remote()) }
        try await row("single client tasks async", multiplier: 1000) {
            _ = try await ray.get((0..<1000).map { _ in $smallValue.remote() })
        }
        try await actorRows(ray, cpus: cpus, row: row)
        try await asyncActorRows(ray, cpus: cpus, row: row)
        // Ray's: 100 groups of one {"custom": 0.001} bundle created, waited for, removed.
        try await row("placement group create/removal", multiplier: 100) {
            var groups: [PlacementGroup] = []
            for _ in 0..<100 { groups.append(try await ray.placementGroup(bundles: [["custom": 0.001]])) }
            for group in groups { _ = try await group.wait(timeout: .seconds(30)) }
            for group in groups { try await ray.removePlacementGroup(group) }
        }
        try await extraRows(ray, cpus: cpus, row: row)
        for (name, reason) in Self.unsupported.sorted(by: { $0.key < $1.key }) where selected(name) {
            emit("\(name): skipped (\(reason))")
        }
        try await ray.shutdown()
        return results
    }

    private func actorRows(
        _ ray: Ray, cpus: Int, row: (String, Double, () async throws -> Void) async throws -> Void
    ) async throws {
        if selected("multi client tasks async") {
            let n = 10_000, m = 4
            let actors = try await create(m) { try await ray.actor(BenchActor.self) }
            try await row("multi client tasks async", Double(n * m)) {
                _ = try await ray.get(actors.map { $0.remote.smallValueBatch(n) })
            }
        }
        if selected("1:1 actor calls sync") {
            let actor = try await ray.actor(BenchActor.self)
            try await row("1:1 actor calls sync", 1) { _ = try await ray.get(actor.remote.smallValue()) }
        }
        if selected("1:1 actor calls async") {
            let actor = try await ray.actor(BenchActor.self)
            try await row("1:1 actor calls async", 1000) { _ = try await ray.get((0..<1000).map { _ in actor.remote.smallValue() }) }
        }
        if selected("1:1 actor calls concurrent") {
            let actor = try await ray.actor(BenchActor.self, options: ActorOptions(maxConcurrency: 16))
            try await row("1:1 actor calls concurrent", 1000) { _ = try await ray.get((0..<1000).map { _ in actor.remote.smallValue() }) }
        }
        if selected("1:n actor calls async") {
            let n = 5000
            let actors = try await create(cpus) { try await ray.actor(BenchActor.self) }
            let client = try await BenchClient.create(servers: actors)
            try await row("1:n actor calls async", Double(n * actors.count)) { _ = try await ray.get(client.remote.smallValueBatch(n)) }
        }
        if selected("n:n actor calls async") {
            let n = 5000, m = 4
            let actors = try await create(cpus) { try await ray.actor(BenchActor.self) }
            try await row("n:n actor calls async", Double(m * n)) { _ = try await ray.get((0..<m).map { _ in $work.remote(actors, n) }) }
        }
        if selected("n:n actor calls with arg async") {
            let n = 1000
            let actors = try await create(cpus) { try await ray.actor(BenchActor.self) }
            var clients: [BenchClient] = []
            for actor in actors { clients.append(try await BenchClient.create(servers: [actor])) }
            try await row("n:n actor calls with arg async", Double(n * clients.count)) {
                _ = try await ray.get(clients.map { $0.remote.smallValueBatchArg(n) })
            }
        }
    }

    private func asyncActorRows(
        _ ray: Ray, cpus: Int, row: (String, Double, () async throws -> Void) async throws -> Void
    ) async throws {
        if selected("1:1 async-actor calls sync") {
            let actor = try await ray.actor(AsyncBenchActor.self)
            try await row("1:1 async-actor calls sync", 1) { _ = try await ray.get(actor.remote.smallValue()) }
        }
        if selected("1:1 async-actor calls async") {
            let actor = try await ray.actor(AsyncBenchActor.self)
            try await row("1:1 async-actor calls async", 1000) { _ = try await ray.get((0..<1000).map { _ in actor.remote.smallValue() }) }
        }
        if selected("1:1 async-actor calls with args async") {
            let actor = try await ray.actor(AsyncBenchActor.self)
            try await row("1:1 async-actor calls with args async", 1000) {
                _ = try await ray.get((0..<1000).map { actor.remote.smallValueWithArg($0) })
            }
        }
        if selected("1:n async-actor calls async") {
            let n = 5000
            let actors = try await create(cpus) { try await ray.actor(AsyncBenchActor.self) }
            let client = try await AsyncBenchClient.create(servers: actors)
            try await row("1:n async-actor calls async", Double(n * actors.count)) { _ = try await ray.get(client.remote.smallValueBatch(n)) }
        }
        if selected("n:n async-actor calls async") {
            let n = 5000, m = 4
            let actors = try await create(cpus) { try await ray.actor(AsyncBenchActor.self) }
            try await row("n:n async-actor calls async", Double(m * n)) {
                _ = try await ray.get((0..<m).map { _ in $asyncActorWork.remote(actors, n) })
            }
        }
    }

    private func create<A>(_ count: Int, _ make: () async throws -> A) async throws -> [A] {
        var made: [A] = []
        for _ in 0..<count { made.append(try await make()) }
        return made
    }

    func selected(_ name: String) -> Bool {
        guard let filter, !filter.isEmpty else { return true }
        return name.contains(filter)
    }

    static var machineCPUs: Int { max(1, sysconfCPUs()) }
}

import RayPlatform

private func sysconfCPUs() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
