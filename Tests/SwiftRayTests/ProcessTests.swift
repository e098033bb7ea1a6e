import Foundation
import RayTesting
import SwiftRay
import XCTest

/// The process model: real workers, started and stopped with the cluster; none survive the driver.
final class ProcessTests: XCTestCase {
    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testStartPrestartsWorkersAndShutdownReapsThem() async throws {
        try await Ray.start(numCPUs: 2)
        let awaited1 = try await ray.get($square.remote(2))
        XCTAssertEqual(awaited1, 4)
        let pids = await ray.workerPIDs()
        XCTAssertEqual(pids.count, 2)
        XCTAssertTrue(pids.allSatisfy(RayTesting.isAlive))
        try await ray.shutdown()
        XCTAssertTrue(pids.allSatisfy { !RayTesting.isAlive($0) }, "shutdown returns after every worker is reaped")
    }

    func testExtraWorkersStopAfterIdling() async throws {
        try await Ray.start(numCPUs: 1, idleWorkerTimeout: .milliseconds(200))
        // Zero-CPU tasks that run side by side need more workers than the one prestarted.
        let naps = (0..<4).map { _ in $sleepy.options(numCPUs: 0).remote(0.3) }
        _ = try await ray.get(naps, timeout: .seconds(30))
        let busy = await ray.workerPIDs()
        XCTAssertGreaterThan(busy.count, 1)
        let shrunk = await RayTesting.eventually(timeout: .seconds(20)) { await ray.workerPIDs().count == 1 }
        XCTAssertTrue(shrunk, "idle workers beyond the prestarted one stop")
        let squared = try await ray.get($square.remote(4))
        XCTAssertEqual(squared, 16)
    }

    func testAPIBeforeStartAndAfterShutdownIsAClearError() async throws {
        XCTAssertFalse(Ray.isInitialized)
        let early = $square.remote(1)
        _ = await expectSystemError { try await ray.get(early) }
        _ = await expectSystemError { try ray.put(1) }
        try await Ray.start(numCPUs: 1)
        do {
            try await Ray.start(numCPUs: 1)
            XCTFail("a second start should fail")
        } catch let error as RaySystemError {
            XCTAssertTrue(error.message.contains("already running"))
        }
        try await ray.shutdown()
        _ = await expectSystemError { try await ray.get($square.remote(1)) }
        _ = await expectSystemError { try await ray.shutdown() }
    }

    func testNoOrphanWorkersAfterDriverIsKilled() async throws {
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: RayTesting.siblingExecutable("RayTestDriver"))
        driver.arguments = ["hold"]
        let output = Pipe()
        driver.standardOutput = output
        try driver.run()
        defer { if driver.isRunning { kill(driver.processIdentifier, SIGKILL) } }
        let line = try readLine(startingWith: "PIDS", from: output.fileHandleForReading)
        let pids = line.split(separator: " ").dropFirst().compactMap { Int32($0) }
        XCTAssertEqual(pids.first, driver.processIdentifier)
        let workers = Array(pids.dropFirst())
        XCTAssertGreaterThanOrEqual(workers.count, 2)
        XCTAssertTrue(workers.allSatisfy(RayTesting.isAlive))
        kill(driver.processIdentifier, SIGKILL)
        driver.waitUntilExit()
        let gone = await RayTesting.eventually(timeout: .seconds(10)) { workers.allSatisfy { !RayTesting.isAlive($0) } }
        XCTAssertTrue(gone, "workers \(workers.filter(RayTesting.isAlive)) outlived their driver")
        for pid in workers where RayTesting.isAlive(pid) { kill(pid, SIGKILL) }
    }

    func testWorkerOutputReachesDriverWithPrefix() throws {
        let output = try runDriver(["print"])
        XCTAssertTrue(output.contains("RESULT 17"), output)
        let prefixed = output.split(separator: "\n").first { $0.hasSuffix("hello from a task") }
        XCTAssertNotNil(prefixed, output)
        XCTAssertTrue(prefixed?.hasPrefix("(printer pid=") ?? false, String(prefixed ?? ""))
    }

    func testWorkerOutputCanBeTurnedOff() throws {
        let output = try runDriver(["print", "--quiet"])
        XCTAssertTrue(output.contains("RESULT 17"), output)
        XCTAssertFalse(output.contains("hello from a task"), output)
    }

    // MARK: Helpers

    private func expectSystemError<T>(_ body: () async throws -> T) async -> RaySystemError? {
        do {
            _ = try await body()
            XCTFail("expected RaySystemError")
        } catch let error as RaySystemError {
            XCTAssertTrue(error.message.contains("not running"), error.message)
            return error
        } catch {
            XCTFail("expected RaySystemError, got \(error)")
        }
        return nil
    }

    private func runDriver(_ arguments: [String]) throws -> String {
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: RayTesting.siblingExecutable("RayTestDriver"))
        driver.arguments = arguments
        let output = Pipe()
        driver.standardOutput = output
        try driver.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        driver.waitUntilExit()
        XCTAssertEqual(driver.terminationStatus, 0)
        return String(decoding: data, as: UTF8.self)
    }

    private func readLine(startingWith prefix: String, from handle: FileHandle) throws -> String {
        var buffer = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { throw CocoaError(.fileReadUnknown) }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
        }
    }
}

/// A worker binary that cannot start fails the work with a clear error instead of hanging.
final class MissingWorkerBinaryTests: XCTestCase {
    override func tearDown() async throws {
        unsetenv("SWIFTRAY_WORKER_EXECUTABLE")
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testTasksFailClearlyWhenWorkersCannotStart() async throws {
        setenv("SWIFTRAY_WORKER_EXECUTABLE", "/nonexistent/swiftray-worker", 1)
        try await Ray.start(numCPUs: 2)
        do {
            let value = try await ray.get($square.remote(3), timeout: .seconds(30))
            XCTFail("expected an error, got \(value)")
        } catch let error as RaySystemError {
            XCTAssertTrue(error.message.contains("/nonexistent/swiftray-worker"), error.message)
        }
    }
}

extension ProcessTests {
    /// Tune's `restore` after its driver was SIGKILLed mid-experiment: finished trials are not
    /// run again, unfinished ones resume after their last checkpoint.
    func testATuneExperimentIsRestoredAfterItsDriverIsKilled() async throws {
        let folder = NSTemporaryDirectory() + "swiftray-tune-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let marks = folder + "/marks.txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: marks, contents: nil))
        let driver = Process()
        driver.executableURL = URL(fileURLWithPath: RayTesting.siblingExecutable("RayTestDriver"))
        driver.arguments = ["tune", folder, marks]
        driver.standardOutput = Pipe()
        try driver.run()
        defer { if driver.isRunning { kill(driver.processIdentifier, SIGKILL) } }
        let experiment = folder + "/restorable"
        // Killed once two trials have finished and a running one has saved a checkpoint: the
        // events in the journal of the current snapshot.
        let midway = await RayTesting.eventually(timeout: .seconds(60), every: .milliseconds(10)) {
            guard let snapshot = FileManager.default.contents(atPath: experiment + "/experiment_state.json"),
                  let json = try? JSONSerialization.jsonObject(with: snapshot) as? [String: Any],
                  let generation = json["generation"] as? Int,
                  let journal = FileManager.default.contents(atPath: experiment + "/experiment_events.\(generation).jsonl") else { return false }
            let events = journal.split(separator: UInt8(ascii: "\n")).compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: [String: Any]]
            }
            let finished = Set(events.compactMap { $0["finished"]?["_0"] as? Int })
            let saved = Set(events.compactMap { $0["checkpointed"]?["_0"] as? Int })
            return finished.count >= 2 && !saved.subtracting(finished).isEmpty
        }
        XCTAssertTrue(midway, "the experiment got half way")
        kill(driver.processIdentifier, SIGKILL)
        driver.waitUntilExit()
        let before = try String(contentsOfFile: marks, encoding: .utf8).split(separator: "\n").map(String.init)
        let output = try RayTesting.runProcess(RayTesting.siblingExecutable("RayTestDriver"), ["tune-restore", folder, marks])
        XCTAssertEqual(output.status, 0, output.output)
        XCTAssertTrue(output.output.contains("RESULT 6 0 [10, 10, 10, 10, 10, 10]"), output.output)
        let after = Array(try String(contentsOfFile: marks, encoding: .utf8).split(separator: "\n").map(String.init).dropFirst(before.count))
        for trial in 0..<6 {
            let ranBefore = before.filter { $0.hasPrefix("\(trial) ") }.map { Int($0.split(separator: " ")[1])! }
            let ranAfter = after.filter { $0.hasPrefix("\(trial) ") }.map { Int($0.split(separator: " ")[1])! }
            if ranBefore.count == 10 {
                XCTAssertTrue(ranAfter.isEmpty, "trial \(trial) finished before the kill and did not run again: \(ranAfter)")
            } else if let resumedAt = ranAfter.first {
                XCTAssertTrue([1, 6].contains(resumedAt), "trial \(trial) resumed after a checkpoint (5) or from the start: \(ranAfter)")
                XCTAssertEqual(ranAfter.last, 10)
            }
        }
        XCTAssertTrue((0..<6).contains { trial in after.first { $0.hasPrefix("\(trial) ") } == "\(trial) 6" },
                      "at least one trial resumed from its checkpoint: \(after)")
    }
}
