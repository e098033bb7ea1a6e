import Foundation
import SwiftRay

// Remote functions the cluster tests run on other nodes.

/// The node this task ran on.
@Remote func whereAmI() -> String { ray.nodeID ?? "" }

/// Sleeps, then returns the node it ran on and `x * x`.
@Remote func slowSquareWithNode(_ x: Int, _ seconds: Double) async throws -> [String] {
    try await Task.sleep(for: .seconds(seconds))
    return [ray.nodeID ?? "", String(x * x)]
}

/// Notes its start in `folder/x.log` (one line per run, with its pid), sleeps, prints a line, notes
/// its end in `folder/x.done`, and returns its pid and `x * x`: how often a task ran, seen from outside.
@Remote func loggedSquare(_ x: Int, _ seconds: Double, _ folder: String) async throws -> [String] {
    let pid = try noteStart(in: "\(folder)/\(x).log")
    try await Task.sleep(for: .seconds(seconds))
    print("task \(x) finished in pid \(pid)")
    try "".write(toFile: "\(folder)/\(x).done", atomically: true, encoding: .utf8)
    return [pid, String(x * x)]
}

/// Notes its start in `folder/parent-x.log`, runs `loggedSquare(x, seconds, folder)` where
/// `childResource` is (retried as the options say) and waits for it; returns its pid and what the
/// child returned: a task that waits for another through a head crash.
@Remote func loggedParent(_ x: Int, _ seconds: Double, _ folder: String, _ childResource: String, _ childRetries: Int) async throws -> [String] {
    let pid = try noteStart(in: "\(folder)/parent-\(x).log")
    let child = $loggedSquare.options(resources: [childResource: 1], maxRetries: childRetries).remote(x, seconds, folder)
    return try await [pid] + child.get()
}

/// Appends "started PID" to the file at `log`; returns the pid.
private func noteStart(in log: String) throws -> String {
    let pid = String(getpid())
    let earlier = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    try (earlier + "started \(pid)\n").write(toFile: log, atomically: true, encoding: .utf8)
    return pid
}

/// The sum of a large array (received inline on a remote node), and the node.
@Remote func sumOnNode(_ values: [Double]) -> [String] {
    [ray.nodeID ?? "", String(values.reduce(0, +))]
}

/// Prints `text` on the worker; returns its length.
@Remote func shout(_ text: String) -> Int {
    print(text)
    return text.count
}

/// Reads `key` from the cluster's key-value store and writes `key-seen` back; returns what it read.
@Remote func echoThroughKV(_ key: String) async throws -> String {
    let value = try await ray.kv.get(key, as: String.self) ?? "missing"
    try await ray.kv.put(key + "-seen", value: ray.nodeID ?? "")
    return value
}

/// `count` doubles from `start` up: large enough to live in the store of the node that made it.
@Remote func makeNumbers(_ count: Int, _ start: Double) -> [Double] {
    (0..<count).map { start + Double($0) }
}

/// Puts a large array on this worker's node and returns a ref to it (the put object has no lineage).
@Remote func putNumbersHere(_ count: Int) throws -> [ObjectRef<[Double]>] {
    [try ray.put((0..<count).map(Double.init))]
}

/// A large value holding a ref to another large value.
struct NumbersWithRef: Codable, Sendable {
    var numbers: ObjectRef<[Double]>
    var padding: [Double]
}

/// Puts `count` numbers on this worker's node and returns a ref to them inside a value large
/// enough to be kept in the node's store too.
@Remote func wrapNumbersHere(_ count: Int) throws -> NumbersWithRef {
    NumbersWithRef(numbers: try ray.put((0..<count).map(Double.init)), padding: Array(repeating: 1, count: count))
}

/// Yields `[index, pid, attempt]` for `count` items; the first attempt stops after `pauseAt` items
/// and waits on `gate` (the test kills it there).
@Remote func killableStream(_ count: Int, _ pauseAt: Int, _ gate: Queue<Int>) -> AsyncThrowingStream<[Int], any Error> {
    let attempt = ray.taskContext?.attempt ?? 0
    return AsyncThrowingStream { continuation in
        Task {
            for index in 0..<count {
                if index == pauseAt && attempt == 0 { _ = try? await gate.get(timeout: .seconds(60)) }
                continuation.yield([index, Int(getpid()), attempt])
            }
            continuation.finish()
        }
    }
}

/// `count` doubles made from `seed` (each array different, checkable).
@Remote func patternedArray(_ count: Int, _ seed: Int) -> [Double] { (0..<count).map { Double($0 &* 31 &+ seed) } }
