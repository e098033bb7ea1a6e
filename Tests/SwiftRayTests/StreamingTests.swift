import Foundation
import RayTesting
import SwiftRay
import XCTest

/// Streaming generators (Ray's `num_returns="streaming"`): items reach the consumer while the
/// producer runs, in order, with errors, drops, cancellation, backpressure and retries.
final class StreamingTests: RayTestCase {
    func testItemsArriveInOrderWhileTheProducerRuns() async throws {
        let gate = try await Queue<Int>()
        let generator = $countWithGate.remote(5, gate)
        var seen: [Int] = []
        for try await ref in generator {
            seen.append(try await ray.get(ref, timeout: .seconds(30)))
            // The producer waits for this before yielding the next item: had items arrived only at
            // the end, this loop would never get here.
            try await gate.put(seen.count)
        }
        XCTAssertEqual(seen, [0, 1, 2, 3, 4])
    }

    func testManySmallAndLargeItems() async throws {
        var values: [Int] = []
        for try await value in $countTo.remote(2000).values { values.append(value) }
        XCTAssertEqual(values, Array(0..<2000))
        var sizes: [Int] = []
        for try await block in $blocks.remote(4, 50_000).values { sizes.append(block.count) }  // 400 KB each: shared memory
        XCTAssertEqual(sizes, [50_000, 50_000, 50_000, 50_000])
        let empty = $countTo.remote(0)
        let none = try await empty.next()
        XCTAssertNil(none, "an empty stream ends at once")
        let again = try await empty.next()
        XCTAssertNil(again, "and stays ended")
    }

    func testAnErrorMidStreamComesAfterTheItemsBeforeIt() async throws {
        var seen: [Int] = []
        do {
            for try await ref in $failAfter.remote(3) { seen.append(try await ref.get()) }
            XCTFail("the stream ended without its error")
        } catch let error as RayTaskError {
            XCTAssertTrue(error.message.contains("gave up after 3"), error.message)
        }
        XCTAssertEqual(seen, [0, 1, 2])
    }

    func testDroppingTheGeneratorStopsTheProducerAndFreesItsItems() async throws {
        let baseline = try await ray.objectStoreStats().objects
        do {
            let generator = $endless.remote()
            var taken = 0
            for try await ref in generator {
                _ = try await ref.get()
                taken += 1
                if taken == 3 { break }
            }
        }
        // The producer held a CPU; stopped, it gives it back: a task needing both CPUs runs.
        let both = try await ray.get($square.options(numCPUs: 2).remote(3), timeout: .seconds(30))
        XCTAssertEqual(both, 9)
        let freed = try await RayTesting.eventually(timeout: .seconds(10)) { try await ray.objectStoreStats().objects == baseline }
        XCTAssertTrue(freed, "the items not taken are freed with the generator")
    }

    func testCancellingTheConsumerStopsTheProducer() async throws {
        let generator = $endless.remote()
        let firstTaken = AsyncStream<Void>.makeStream()
        let consumer = Task {
            var count = 0
            for try await _ in generator {
                count += 1
                if count == 1 { firstTaken.continuation.yield() }
            }
            return count
        }
        for await _ in firstTaken.stream { break }
        consumer.cancel()
        do {
            _ = try await consumer.value
            XCTFail("a cancelled consumer stops with an error")
        } catch is CancellationError {}
        let both = try await ray.get($square.options(numCPUs: 2).remote(4), timeout: .seconds(30))
        XCTAssertEqual(both, 16, "the producer stopped and gave its CPU back")
    }

    func testCancellingTheProducerEndsTheStreamWithTaskCancelled() async throws {
        let generator = $endless.remote()
        _ = try await generator.next()
        ray.cancel(generator)
        do {
            while try await generator.next() != nil {}
            XCTFail("a cancelled producer's stream ends with its cancellation")
        } catch is TaskCancelledError {}
    }

    func testBackpressureBoundsTheItemsWaitingInTheStore() async throws {
        let baseline = try await ray.objectStoreStats().objects
        let generator = $countTo.options(generatorBackpressure: 4).remote(300)
        var values: [Int] = []
        var mostWaiting = 0
        for try await ref in generator {
            values.append(try await ref.get())
            // Objects now: the stream's end, the item in hand, and those yielded but not taken.
            mostWaiting = max(mostWaiting, try await ray.objectStoreStats().objects - baseline - 2)
        }
        XCTAssertEqual(values, Array(0..<300))
        XCTAssertLessThanOrEqual(mostWaiting, 4 + 1, "the producer pauses at 4 untaken items")
        _ = await expectError(RaySystemError.self) {
            try await $countTo.options(generatorBackpressure: 0).remote(3).next()
        }
    }

    func testARetriedProducerDoesNotRepeatItems() async throws {
        let gate = try await Queue<Int>()
        var seen: [Int] = []
        for try await value in $crashOnceAfter.remote(6, 3, gate).values {
            seen.append(value)
            if value == 2 { try await gate.put(1) }  // seen item 2: the first attempt may crash
        }
        XCTAssertEqual(seen, Array(0..<6), "the retry's first items are the ones already seen")
        var before: [Int] = []
        do {
            for try await value in $crashOnceAfter.options(maxRetries: 0).remote(6, 3, gate).values {
                before.append(value)
                if value == 2 { try await gate.put(1) }
            }
            XCTFail("without retries the crash ends the stream")
        } catch is WorkerCrashedError {}
        XCTAssertEqual(before, [0, 1, 2])
    }

    func testATaskConsumesAStream() async throws {
        let total = try await ray.get($sumOfStream.remote(100), timeout: .seconds(30))
        XCTAssertEqual(total, (0..<100).reduce(0, +))
    }

    func testActorMethodsStream() async throws {
        let speaker = try await ray.actor(Speaker.self)
        var words: [String] = []
        for try await word in speaker.remote.words(3).values { words.append(word) }
        XCTAssertEqual(words, ["word-1", "word-2", "word-3"])
        let spoken = try await ray.get(speaker.remote.spoken(), timeout: .seconds(30))
        XCTAssertEqual(spoken, 3, "the stream ran on the actor's state")

        // A one-at-a-time actor's endless stream stops when its consumer drops it: the next call runs.
        do {
            let generator = speaker.remote.options(generatorBackpressure: 2).endlessWords()
            _ = try await generator.next()
        }
        let after = try await ray.get(speaker.remote.spoken(), timeout: .seconds(30))
        XCTAssertEqual(after, 3)

        // An async actor's stream, with an error after its items.
        let async = try await ray.actor(AsyncSpeaker.self)
        var got: [Int] = []
        do {
            for try await number in async.remote.numbers(4, failing: true).values { got.append(number) }
            XCTFail("the method's error ends the stream")
        } catch let error as RayTaskError {
            XCTAssertTrue(error.message.contains("no more numbers"), error.message)
        }
        XCTAssertEqual(got, [0, 1, 2, 3])
    }
}

@Remote func countWithGate(_ count: Int, _ gate: Queue<Int>) -> AsyncThrowingStream<Int, any Error> {
    AsyncThrowingStream { continuation in
        let producer = Task {
            do {
                for index in 0..<count {
                    continuation.yield(index)
                    _ = try await gate.get(timeout: .seconds(30))
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in producer.cancel() }
    }
}

@Remote func countTo(_ count: Int) -> AsyncStream<Int> {
    AsyncStream { continuation in
        for index in 0..<count { continuation.yield(index) }
        continuation.finish()
    }
}

@Remote func blocks(_ count: Int, _ size: Int) -> AsyncStream<[Double]> {
    AsyncStream { continuation in
        for index in 0..<count { continuation.yield([Double](repeating: Double(index), count: size)) }
        continuation.finish()
    }
}

struct GaveUp: Error, CustomStringConvertible {
    let after: Int
    var description: String { "gave up after \(after)" }
}

@Remote func failAfter(_ count: Int) -> AsyncThrowingStream<Int, any Error> {
    AsyncThrowingStream { continuation in
        for index in 0..<count { continuation.yield(index) }
        continuation.finish(throwing: GaveUp(after: count))
    }
}

/// The natural numbers, one per `next()`, pulled as the consumer goes: endless.
struct Naturals: AsyncSequence, AsyncIteratorProtocol {
    var value = 0

    mutating func next() async -> Int? {
        await Task.yield()
        value += 1
        return value
    }

    func makeAsyncIterator() -> Naturals { self }
}

/// Yields until stopped.
@Remote func endless() -> some AsyncSequence<Int, Never> { Naturals() }

/// On its first attempt, crashes its worker once the consumer has seen `crashAt` items (it puts
/// into `gate`); later attempts yield all `count`.
@Remote func crashOnceAfter(_ count: Int, _ crashAt: Int, _ gate: Queue<Int>) -> AsyncStream<Int> {
    let attempt = ray.taskContext?.attempt ?? 0
    return AsyncStream { continuation in
        Task {
            for index in 0..<count {
                if index == crashAt && attempt == 0 {
                    _ = try? await gate.get(timeout: .seconds(30))
                    kill(getpid(), SIGKILL)
                }
                continuation.yield(index)
            }
            continuation.finish()
        }
    }
}

@Remote func sumOfStream(_ count: Int) async throws -> Int {
    var total = 0
    for try await value in $countTo.remote(count).values { total += value }
    return total
}

@RayActor
distributed actor Speaker {
    private var count = 0

    func words(_ count: Int) -> AsyncStream<String> {
        let start = self.count
        self.count += count
        return AsyncStream { continuation in
            for index in 1...count { continuation.yield("word-\(start + index)") }
            continuation.finish()
        }
    }

    func endlessWords() -> some AsyncSequence<String, Never> {
        Naturals().map { "word-\($0)" }
    }

    distributed func spoken() -> Int { count }
}

struct NoMoreNumbers: Error, CustomStringConvertible {
    var description: String { "no more numbers" }
}

@RayActor
distributed actor AsyncSpeaker {
    func numbers(_ count: Int, failing: Bool) -> AsyncThrowingStream<Int, any Error> {
        AsyncThrowingStream { continuation in
            Task {
                for index in 0..<count {
                    try? await Task.sleep(for: .milliseconds(1))
                    continuation.yield(index)
                }
                continuation.finish(throwing: failing ? NoMoreNumbers() : nil)
            }
        }
    }

    distributed func ping() async -> Int { 1 }
}
