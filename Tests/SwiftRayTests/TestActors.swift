import Foundation
import SwiftRay
import Synchronization

// Actors the tests create; like the remote functions, they live in the test binary.

@RayActor
distributed actor Counter {
    var value = 0

    distributed func increment() -> Int {
        value += 1
        return value
    }

    distributed func add(_ amount: Int) -> Int {
        value += amount
        return value
    }

    distributed func getValue() -> Int { value }

    distributed func pid() -> Int32 { getpid() }

    distributed func reset() { value = 0 }

    distributed func fail(_ message: String) throws -> Int { throw ActorTestError(message: message) }

    /// Runs long enough to be killed mid-call.
    distributed func slowIncrement(_ seconds: Double) async throws -> Int {
        try await Task.sleep(for: .seconds(seconds))
        value += 1
        return value
    }
}

@RayActor
distributed actor Recorder {
    var items: [Int] = []

    distributed func append(_ item: Int) -> Int {
        items.append(item)
        return items.count
    }

    distributed func all() -> [Int] { items }

    /// A result large enough for the shared-memory store.
    distributed func series(_ count: Int) -> [Int] { Array(0..<count) }
}

/// An async actor: calls interleave at suspension points, up to maxConcurrency.
@RayActor
distributed actor Sleeper {
    var running = 0
    var maxRunning = 0

    distributed func nap(_ seconds: Double) async throws -> Int {
        running += 1
        maxRunning = max(maxRunning, running)
        try await Task.sleep(for: .seconds(seconds))
        running -= 1
        return maxRunning
    }

    distributed func peak() -> Int { maxRunning }
}

@RayActor
distributed actor Accumulator {
    var total: Int
    let label: String

    init(actorSystem: RayActorSystem, start: Int, label: String) {
        self.actorSystem = actorSystem
        self.total = start
        self.label = label
    }

    distributed func add(_ values: [Int]) -> String {
        total += values.reduce(0, +)
        return "\(label)=\(total)"
    }

    /// Calls another actor through a handle it was given.
    distributed func bump(_ counter: Counter) async throws -> Int {
        try await counter.increment()
    }
}

@RayActor
distributed actor Broken {
    init(actorSystem: RayActorSystem, reason: String) throws {
        self.actorSystem = actorSystem
        throw ActorTestError(message: reason)
    }

    distributed func hello() -> String { "unreachable" }
}

struct ActorTestError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

@Remote func incrementThrough(_ counter: Counter) async throws -> Int {
    try await counter.increment()
}

@Remote func incrementByName(_ name: String) async throws -> Int {
    let counter = try await ray.getActor(Counter.self, name: name)
    return try await ray.get(counter.remote.increment())
}

/// Handles a worker keeps after its task returns (a long-lived creator).
let keptHandles = Mutex<[Counter]>([])

/// Creates two named actors, one detached, and keeps their handles in this worker; returns this
/// worker's pid (their creator).
@Remote func createOwnedActors(_ prefix: String) async throws -> Int32 {
    let detached = try await ray.actor(Counter.self, options: ActorOptions(name: prefix + "-detached", lifetime: .detached))
    let owned = try await ray.actor(Counter.self, options: ActorOptions(name: prefix + "-owned"))
    _ = try await [detached.increment(), owned.increment()]
    keptHandles.withLock { $0 += [detached, owned] }
    return getpid()
}

/// Creates a named actor, calls it once and drops its handle; returns the actor's pid.
@Remote func createAndDropActor(_ name: String, detached: Bool) async throws -> Int32 {
    let counter = try await ray.actor(Counter.self, options: ActorOptions(name: name, lifetime: detached ? .detached : nil))
    return try await counter.pid()
}

/// Holds a handle received inside a value and calls through it.
struct CounterBox: Codable, Sendable {
    let counter: Counter
}

@Remote func incrementInBox(_ box: CounterBox) async throws -> Int {
    try await box.counter.increment()
}

/// Keeps objects it put in its state: what a detached actor re-attached to a restarted head holds.
@RayActor
distributed actor ObjectKeeper {
    var large: ObjectRef<[Int]>?
    var small: ObjectRef<Int>?

    /// Puts `count` integers (the node's shared-memory store when large) and a small value (inline,
    /// kept by the head).
    distributed func keep(count: Int) throws {
        large = try ray.put(Array(0..<count))
        small = try ray.put(7)
    }

    distributed func largeSum() async throws -> Int { try await large?.get().reduce(0, +) ?? -1 }

    distributed func smallValue() async throws -> Int { try await small?.get() ?? -1 }

    distributed func largeRef() -> ObjectRef<[Int]>? { large }

    distributed func forget() { large = nil }

    var computed: ObjectRef<[Double]>?

    /// Submits `makeNumbers(count, 5)` on a node with `resource`, keeping its ref: the actor owns
    /// that result (and its lineage).
    distributed func compute(count: Int, on resource: String) {
        computed = $makeNumbers.options(resources: [resource: 1]).remote(count, 5)
    }

    distributed func computedSum() async throws -> Double { try await computed?.get().reduce(0, +) ?? -1 }

    /// Whether that result is finished (without reading it: no copy comes to this node).
    distributed func computedReady() async throws -> Bool {
        guard let computed else { return false }
        return try await ray.wait([computed], timeout: .seconds(60)).ready.count == 1
    }
}
