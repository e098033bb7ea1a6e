import Foundation
import SwiftRay

// Remote functions the tests submit. They live in the test binary, which hosts the workers too.

@Remote func square(_ x: Int) -> Int { x * x }

@Remote func add(_ a: Int, _ b: Int) -> Int { a + b }

@Remote func describe(name: String, count: Int, scale: Double) -> String { "\(name):\(count):\(scale)" }

@Remote func sum(_ values: [Double]) -> Double { values.reduce(0, +) }

@Remote func noResult(_ x: Int) {}

@Remote func pidOf(_ x: Int) -> Int32 { getpid() }

@Remote func fib(_ n: Int) async throws -> Int {
    if n <= 1 { return n }
    let a = $fib.remote(n - 1)
    let b = $fib.remote(n - 2)
    return try await ray.get(a) + ray.get(b)
}

@Remote func sleepy(_ seconds: Double) async throws -> String {
    try await Task.sleep(for: .seconds(seconds))
    return "slept"
}

/// Blocks its thread (no cooperative cancellation point).
@Remote func spin(_ seconds: Double) -> Int {
    let end = ContinuousClock.now + .seconds(seconds)
    var count = 0
    while ContinuousClock.now < end { count += 1 }
    return count
}

struct Boom: Error, CustomStringConvertible {
    let code: Int
    var description: String { "boom \(code)" }
}

@Remote func failing(_ code: Int) throws -> Int { throw Boom(code: code) }

@Remote func increment(_ x: Int) -> Int { x + 1 }

/// Kills its own process on the first attempt; succeeds on a retry.
@Remote func dieOnFirstAttempt(_ x: Int) -> Int {
    if (ray.taskContext?.attempt ?? 0) == 0 { kill(getpid(), SIGKILL) }
    return x * 10
}

@Remote func exitProcess(_ code: Int32) -> Int { exit(code) }

@Remote func flaky(_ failures: Int) throws -> Int {
    let attempt = ray.taskContext?.attempt ?? 0
    if attempt < failures { throw Boom(code: attempt) }
    return attempt
}

@Remote func attemptNumber() -> Int { ray.taskContext?.attempt ?? -1 }

@Remote func resourceUser(_ x: Int) -> Int { x }

/// Submits a long child and waits for it (for recursive cancellation).
@Remote func parentOfSleeper(_ seconds: Double) async throws -> String {
    try await ray.get($sleepy.remote(seconds))
}

@Remote func childRefs(_ count: Int) -> [ObjectRef<Int>] {
    (0..<count).map { $square.remote($0) }
}

@Remote func putRefs(_ count: Int) throws -> [ObjectRef<Int>] {
    try (0..<count).map { try ray.put($0) }
}

@Remote func sumOfRefs(_ refs: [ObjectRef<Int>]) async throws -> Int {
    try await ray.get(refs).reduce(0, +)
}

@Remote func waitInTask(_ refs: [ObjectRef<String>]) async throws -> Int {
    try await ray.wait(refs, numReturns: 1, timeout: .seconds(30)).ready.count
}

@Remote func putInTask(_ x: Int) throws -> ObjectRef<Int> { try ray.put(x * 3) }

/// A value whose encoding always fails.
struct Unencodable: Codable, Sendable {
    init() {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "Unencodable refuses"))
    }
}

@Remote func takesUnencodable(_ value: Unencodable) -> Int { 1 }

@Remote func returnsUnencodable() -> Unencodable { Unencodable() }

/// Remote functions can be static members of a type, too.
enum Geometry {
    @Remote static func area(width: Double, height: Double) -> Double { width * height }
}

@Remote func bigArray(_ count: Int) -> [Double] { (0..<count).map(Double.init) }

@Remote func bigStrings(_ count: Int) -> [String] { (0..<count).map { "item-\($0)" } }

@Remote func putBigInTask(_ count: Int) throws -> ObjectRef<[Double]> {
    try ray.put([Double](repeating: 1.5, count: count))
}

/// Reads a large array in place; reports its sum and whether this process maps the store's file.
@Remote func sumInPlace(_ data: ObjectRef<[Double]>) async throws -> ViewReport {
    let view = try await ray.view(data)
    let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
    return ViewReport(sum: view.reduce(0, +), count: view.count, shared: view.isShared,
                      mapsStoreFile: maps.contains("/swiftray-node-"))
}

struct ViewReport: Codable, Sendable, Equatable {
    var sum: Double
    var count: Int
    var shared: Bool
    var mapsStoreFile: Bool
}

/// Starts writing a large object and has a watcher SIGKILL this process while the unsealed file
/// exists (mid-write).
@Remote func dieWhileWriting(_ count: Int) throws -> Int {
    let marker = ".\(getpid()).tmp"
    let folder = "/dev/shm/swiftray-node-\(getppid())"
    let watcher = Thread {
        while true {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            if names.contains(where: { $0.hasSuffix(marker) }) { kill(getpid(), SIGKILL) }
        }
    }
    watcher.start()
    for _ in 0..<20 { _ = try ray.put([Double](repeating: 1, count: count)) }
    return 0  // the watcher missed every write
}

/// Always throws, with `message`.
@Remote func alwaysFails(_ message: String) throws -> Int {
    throw TestFailure(message: message)
}

struct TestFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Blocks its thread (no `await`) for `millis` milliseconds.
@Remote func blockThread(_ millis: Int) -> Int {
    usleep(useconds_t(millis * 1000))
    return millis
}

/// Submits a child that holds a CPU for `seconds` and returns at once with its ref (for the
/// recursive-cancel race: the cancel may cross the child's submission).
@Remote func spawnHolder(_ seconds: Double) async throws -> Int {
    let child = $sleepy.remote(seconds)
    return try await ray.get(child).count
}

/// Fails after `seconds` (a failure that arrives while a `get` already waits).
@Remote func flakyAfter(_ seconds: Double) async throws -> String {
    try await Task.sleep(for: .seconds(seconds))
    throw Boom(code: 9)
}

/// Three results, each its own object (Ray's `num_returns=3`).
@Remote func splitStats(_ values: [Double]) -> (count: Int, mean: Double, big: [Double]) {
    (values.count, values.reduce(0, +) / Double(max(values.count, 1)), values.map { $0 * 2 })
}

/// Several results from a task that throws: every ref holds the error.
@Remote func failingPair(_ code: Int) throws -> (Int, String) { throw Boom(code: code) }

/// Says it started, then waits for an item on `gate` (blocked in an actor call) and returns it.
@Remote func waitAtGate(started: Queue<Int>, gate: Queue<Int>) async throws -> Int {
    try await started.put(1)
    return try await gate.get()
}
