import Foundation
import RayTesting
import SwiftRay
import XCTest

/// The state API and the timeline against a live local cluster with known tasks and actors.
final class StateTests: RayTestCase {
    func testStateShowsTasksActorsObjectsWorkersAndJobs() async throws {
        _ = try await ray.get((0..<5).map { $square.remote($0) })
        let counter = try await ray.actor(Counter.self, options: ActorOptions(name: "watched"))
        _ = try await ray.get(counter.remote.increment())
        let kept = try ray.put([Double](repeating: 1, count: 200_000))
        let state = try await ray.state.snapshot()

        XCTAssertEqual(state.nodes.count, 1)
        XCTAssertEqual(state.nodes.first?.total["CPU"], 2)
        XCTAssertTrue(state.nodes.first?.alive ?? false)

        let squares = state.tasks.filter { $0.name == "square" }
        XCTAssertEqual(squares.count, 5)
        XCTAssertTrue(squares.allSatisfy { $0.state == .finished && $0.startedAt != nil && $0.endedAt != nil && $0.type == "NORMAL_TASK" })
        let pids = await ray.workerPIDs()
        XCTAssertTrue(squares.allSatisfy { pids.contains($0.workerPID ?? -1) }, "\(squares.map(\.workerPID)) vs \(pids)")
        let calls = state.tasks.filter { $0.type == "ACTOR_TASK" && $0.name.contains("increment") }
        XCTAssertEqual(calls.map(\.state), [.finished])

        let actor = try XCTUnwrap(state.actors.first { $0.name == "watched" })
        XCTAssertEqual(actor.state, .alive)
        XCTAssertEqual(actor.className, "Counter")
        XCTAssertTrue(RayTesting.isAlive(try XCTUnwrap(actor.pid)))
        XCTAssertEqual(Set(state.workers.map(\.kind)), ["task", "actor"])

        let object = try XCTUnwrap(state.objects.first { $0.objectID == "\(kept.id)" })
        XCTAssertEqual(object.location, "shared-memory")
        XCTAssertGreaterThan(object.size, 1_600_000)
        XCTAssertEqual(object.holderPIDs, [getpid()])
        XCTAssertEqual(state.jobs.map(\.driverPID), [getpid()])
        XCTAssertEqual(state.jobs.first?.status, "RUNNING")

        let summary = try await ray.state.taskSummary()
        XCTAssertEqual(summary.first { $0.name == "square" }?.counts, ["FINISHED": 5])
    }

    func testFailedTasksAreReportedWithTheirError() async throws {
        _ = try? await ray.get($alwaysFails.remote("no luck"))
        let tasks = try await ray.state.tasks()
        let failed = try XCTUnwrap(tasks.first { $0.name == "alwaysFails" })
        XCTAssertEqual(failed.state, .failed)
        XCTAssertTrue(failed.error?.contains("no luck") ?? false, failed.error ?? "")
    }

    func testWorkerOutputIsKeptInTheSessionLogs() async throws {
        let ref = $shout.remote("kept for later")
        _ = try await ray.get(ref)
        let task = try await ray.state.tasks().first { $0.taskID == "\(ref.id)" }
        let pid = try XCTUnwrap(task?.workerPID)
        let path = "\(ProcessInfo.processInfo.environment["SWIFTRAY_TEMP_DIR"] ?? "/tmp/swiftray")/sessions/\(ray.nodeID!)/logs/worker-\(pid).log"
        let kept = await RayTesting.eventually {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("(shout pid=\(pid)) kept for later")
        }
        XCTAssertTrue(kept, path)
    }

    func testCommandLineReachesAnEmbeddedCluster() async throws {
        let root = ProcessInfo.processInfo.environment["SWIFTRAY_TEMP_DIR"] ?? "/tmp/swiftray"
        let owner = (try? String(contentsOfFile: "\(root)/head_pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard owner == "\(getpid())" else { throw XCTSkip("another cluster on this machine owns \(root)/head_address") }
        let counter = try await ray.actor(Counter.self, options: ActorOptions(name: "visible"))
        _ = try await counter.increment()
        let swiftray = RayTesting.siblingExecutable("swiftray")
        let (status, actors) = try RayTesting.runProcess(swiftray, ["list", "actors", "--filter", "name=visible"])
        XCTAssertEqual(status, 0, actors)
        XCTAssertTrue(actors.contains("Counter") && actors.contains("ALIVE"), actors)
        let (_, summary) = try RayTesting.runProcess(swiftray, ["status"])
        XCTAssertTrue(summary.contains(ray.nodeID!) && summary.contains("2.0 CPU"), summary)
    }

    func testTimelineIsChromeTraceJSON() async throws {
        _ = try await ray.get((0..<4).map { _ in $sleepy.remote(0.01) })
        let data = try await ray.state.timeline()
        let events = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let naps = events.filter { $0["name"] as? String == "sleepy" }
        XCTAssertEqual(naps.count, 4)
        for event in naps {
            XCTAssertEqual(event["ph"] as? String, "X")
            XCTAssertGreaterThanOrEqual((event["dur"] as? Int) ?? 0, 10_000, "each span covers its 10 ms sleep")
            XCTAssertNotNil(event["tid"] as? Int)
        }
    }
}
