import RayTesting
import SwiftRay
import XCTest

final class FaultToleranceTests: RayTestCase {
    func testTaskErrorCarriesTypeMessageFunctionNodeAndPid() async throws {
        let error = await expectError(RayTaskError.self) { try await ray.get($failing.remote(7)) }
        XCTAssertEqual(error?.errorType, "Boom")
        XCTAssertEqual(error?.message, "boom 7")
        XCTAssertEqual(error?.functionName, "failing")
        XCTAssertFalse(error?.nodeID.isEmpty ?? true)
        let workers = await ray.workerPIDs()
        XCTAssertTrue(workers.contains(error?.pid ?? -1), "pid \(error?.pid ?? -1) should be a worker's")
    }

    func testErrorCarriedThroughDependentTask() async throws {
        let failed = $failing.remote(3)
        let dependent = $increment.remote(failed)
        let again = $add.remote(dependent, 1)
        let error = await expectError(RayTaskError.self) { try await ray.get(again) }
        XCTAssertEqual(error?.functionName, "failing")
        XCTAssertEqual(error?.message, "boom 3")
        // The same when the failed argument is already finished at submission.
        let late = $increment.remote(failed)
        let lateError = await expectError(RayTaskError.self) { try await ray.get(late) }
        XCTAssertEqual(lateError?.message, "boom 3")
    }

    func testThrownErrorsAreNotRetriedByDefault() async throws {
        let error = await expectError(RayTaskError.self) { try await ray.get($flaky.remote(1)) }
        XCTAssertEqual(error?.message, "boom 0")
    }

    func testRetryExceptionsRetriesThrownErrors() async throws {
        let ref = $flaky.options(maxRetries: 3, retryExceptions: true).remote(2)
        let awaited1 = try await ray.get(ref)
        XCTAssertEqual(awaited1, 2)
        let exhausted = $flaky.options(maxRetries: 1, retryExceptions: true).remote(5)
        let error = await expectError(RayTaskError.self) { try await ray.get(exhausted) }
        XCTAssertEqual(error?.message, "boom 1")
    }

    func testTaskThatKillsItsProcessSucceedsOnRetry() async throws {
        let pidsBefore = Set(await ray.workerPIDs())
        let awaited2 = try await ray.get($dieOnFirstAttempt.remote(4), timeout: .seconds(60))
        XCTAssertEqual(awaited2, 40)
        let pidsAfter = Set(await ray.workerPIDs())
        XCTAssertNotEqual(pidsBefore, pidsAfter, "the dead worker is replaced")
        let awaited3 = try await ray.get($square.remote(3))
        XCTAssertEqual(awaited3, 9)
    }

    func testWorkerCrashWithoutRetriesIsWorkerCrashedError() async throws {
        let ref = $dieOnFirstAttempt.options(maxRetries: 0).remote(1)
        let error = await expectError(WorkerCrashedError.self) { try await ray.get(ref, timeout: .seconds(60)) }
        XCTAssertEqual(error?.functionName, "dieOnFirstAttempt")
        XCTAssertTrue(error?.message.contains("signal 9") ?? false, error?.message ?? "")
    }

    func testExitInsideTaskRetriesThenFails() async throws {
        let ref = $exitProcess.options(maxRetries: 2).remote(3)
        let error = await expectError(WorkerCrashedError.self) { try await ray.get(ref, timeout: .seconds(60)) }
        XCTAssertTrue(error?.message.contains("exit code 3") ?? false, error?.message ?? "")
        let awaited4 = try await ray.get($square.remote(2))
        XCTAssertEqual(awaited4, 4)
    }

    func testAttemptNumberCountsRetries() async throws {
        let awaited5 = try await ray.get($attemptNumber.remote())
        XCTAssertEqual(awaited5, 0)
    }

    func testUnencodableArgumentAndResultNameTheType() async throws {
        let argument = $takesUnencodable.remote(Unencodable())
        let error = await expectError(RaySerializationError.self) { try await ray.get(argument) }
        XCTAssertTrue(error?.typeName.contains("Unencodable") ?? false, error?.description ?? "")
        let result = $returnsUnencodable.remote()
        let resultError = await expectError(RaySerializationError.self) { try await ray.get(result) }
        XCTAssertTrue(resultError?.typeName.contains("Unencodable") ?? false, resultError?.description ?? "")
        XCTAssertThrowsError(try ray.put(Unencodable())) { error in
            XCTAssertTrue("\(error)".contains("Unencodable"))
        }
    }
}
