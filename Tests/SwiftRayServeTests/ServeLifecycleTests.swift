import Foundation
import RayTesting
import Synchronization
import SwiftRay
import SwiftRayServe
import XCTest

struct Settings: Codable { let threshold: Int }
struct Judged: Codable { let threshold: Int; let pid: Int32 }

/// Answers with the threshold its user config set; `/sick` makes its health check fail.
@RayActor
distributed actor Tunable: Deployment, ReconfigurableDeployment, HealthCheckedDeployment {
    var threshold = -1
    var sick = false

    distributed func reconfigure(_ config: UserConfig) throws {
        threshold = try config.decode(Settings.self).threshold
    }

    distributed func checkHealth() throws {
        if sick { throw ServeError("sick on purpose") }
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        if request.path.hasSuffix("/sick") { sick = true }
        return try .json(Judged(threshold: threshold, pid: getpid()))
    }
}

extension ServeTests {
    private func judged(_ path: String = "/") async throws -> Judged {
        let answer = try await ServeTests.send(base + path, method: "GET")
        XCTAssertEqual(answer.status, 200, answer.body)
        return try JSONDecoder().decode(Judged.self, from: Data(answer.body.utf8))
    }

    func testTheUserConfigReachesEveryReplicaAndChangesWithoutARestart() async throws {
        let config = DeploymentConfig(numReplicas: 2, userConfig: try UserConfig(Settings(threshold: 1)))
        try await Serve.run(Tunable.bind(config), name: "tunable")
        var before = Set<Int32>()
        for _ in 0..<16 {
            let answer = try await judged()
            XCTAssertEqual(answer.threshold, 1, "reconfigured before serving")
            before.insert(answer.pid)
        }
        try await Serve.reconfigure("tunable", userConfig: try UserConfig(Settings(threshold: 5)))
        var after = Set<Int32>()
        for _ in 0..<16 {
            let answer = try await judged()
            XCTAssertEqual(answer.threshold, 5, "every replica has the new config")
            after.insert(answer.pid)
        }
        XCTAssertEqual(before, after, "the same replica processes: no restart")
        do {
            try await Serve.reconfigure("tunable", userConfig: try UserConfig(json: #"{"threshold": "high"}"#))
            XCTFail("a config the replicas cannot decode is refused")
        } catch {
            XCTAssertTrue("\(error)".contains("not a Settings"), "\(error)")
        }
        XCTAssertThrowsError(try UserConfig(json: "{nope"))
    }

    func testAReplicaFailingItsHealthCheckIsKilledAndReplaced() async throws {
        let config = DeploymentConfig(userConfig: try UserConfig(Settings(threshold: 2)), healthCheckPeriod: .milliseconds(50))
        try await Serve.run(Tunable.bind(config), name: "tunable")
        let sick = try await judged("/sick").pid
        let gone = await RayTesting.eventually(timeout: .seconds(30)) { kill(sick, 0) != 0 }
        XCTAssertTrue(gone, "the unhealthy replica's process was killed")
        let replaced = await RayTesting.eventually(timeout: .seconds(30)) { await Serve.status().first?.replicas == 1 }
        XCTAssertTrue(replaced)
        let answer = try await judged()
        XCTAssertNotEqual(answer.pid, sick, "a new replica serves")
        XCTAssertEqual(answer.threshold, 2, "given the user config too")
    }

    func testDeletingLetsRequestsInFlightFinish() async throws {
        let gate = try await Queue<Int>()
        try await Serve.run(Gated.bind { try await Gated.create(gate: gate, options: $0) }, name: "gated", routePrefix: "/gated")
        let url = base + "/gated"
        let held = Task { try await ServeTests.send(url, method: "GET") }
        let started = await RayTesting.eventually(timeout: .seconds(30), every: .milliseconds(5)) {
            await Serve.status().first?.ongoingRequests == 1
        }
        XCTAssertTrue(started)
        let deleted = StopFlag()
        let deleting = Task {
            try await Serve.delete("gated")
            deleted.set()
        }
        let unrouted = await RayTesting.eventually(timeout: .seconds(30), every: .milliseconds(5)) {
            (try? await ServeTests.send(url, method: "GET").status) == 404
        }
        XCTAssertTrue(unrouted, "new requests are refused at once")
        XCTAssertFalse(deleted.isSet, "delete waits for the request in flight")
        try await gate.put(7)
        let answer = try await held.value
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.body, "released 7", "the request in flight finished on its replica")
        try await deleting.value
        XCTAssertTrue(deleted.isSet)
    }
}

extension ServeTests {
    func testAHandleInsideADeploymentFollowsARedeployUnderLoad() async throws {
        let double = try await Serve.run(Scaler.bind { try await Scaler.create(factor: 2, options: $0) }, name: "inner", routePrefix: "/inner")
        try await Serve.run(Ensemble.bind { try await Ensemble.create(first: double, second: double, options: $0) },
                            name: "outer", routePrefix: "/outer")
        let url = base + "/outer", stop = StopFlag()
        let load = Task {
            try await withThrowingTaskGroup(of: [Answer].self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        var answers: [Answer] = []
                        while !stop.isSet { answers.append(try await ServeTests.send(url, body: #"{"x": 1}"#)) }
                        return answers
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        let warm = await RayTesting.eventually(timeout: .seconds(30)) { (await Serve.status().first { $0.name == "outer" }?.servedRequests ?? 0) >= 10 }
        XCTAssertTrue(warm)
        try await Serve.run(Scaler.bind { try await Scaler.create(factor: 3, options: $0) }, name: "inner", routePrefix: "/inner")
        let followed = await RayTesting.eventually(timeout: .seconds(30)) {
            let answer = try? await ServeTests.send(url, body: #"{"x": 1}"#)
            return answer.flatMap { try? JSONDecoder().decode([String: Double].self, from: Data($0.body.utf8)) }?["sum"] == 6
        }
        stop.set()
        let answers = try await load.value
        XCTAssertTrue(followed, "the outer deployment's handle reaches the new inner replicas")
        XCTAssertTrue(answers.allSatisfy { $0.status == 200 }, "no failed request: \(answers.filter { $0.status != 200 }.prefix(3).map(\.body))")
    }
}

/// Adds numbers, with a method besides `handle` for typed calls through handles.
@RayActor
distributed actor Adder: Deployment {
    distributed func add(_ a: Double, _ b: Double) -> Double { a + b }
    distributed func pid() -> Int32 { getpid() }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse { .text("adder") }
}

extension ServeTests {
    func testTypedCallsThroughAHandleAwaitedOrPassedOnAsRefs() async throws {
        let adder = try await Serve.run(Adder.bind(DeploymentConfig(numReplicas: 2)), name: "adder", routePrefix: "/adder")
        let sum = try await adder.call(Adder.self) { try await $0.add(2, 3) }
        XCTAssertEqual(sum, 5)
        var pids = Set<Int32>()
        for _ in 0..<20 { pids.insert(try await adder.call(Adder.self) { try await $0.pid() }) }
        XCTAssertEqual(pids.count, 2, "typed calls are routed over every replica")
        // A response passed on as a ref: the next call receives its value.
        let first = try await adder.remote(Adder.self) { $0.remote.add(1, 1) }
        let second = try await adder.remote(Adder.self) { $0.remote.add(first, 10) }
        let chained = try await ray.get(second)
        XCTAssertEqual(chained, 12)
        let settled = await RayTesting.eventually(timeout: .seconds(30)) { await Serve.status().first?.ongoingRequests == 0 }
        XCTAssertTrue(settled, "every slot given back once its result was ready")
        // A replica killed under typed calls: each call still answers (a dead replica is replaced and
        // the call runs on another).
        let victim = pids.first!
        kill(victim, SIGKILL)
        for _ in 0..<12 {
            let answer = try await adder.call(Adder.self) { try await $0.add(1, 2) }
            XCTAssertEqual(answer, 3)
        }
        do {
            _ = try await adder.call(Scaler.self) { _ in 0 }
            XCTFail("a handle refuses another deployment's type")
        } catch let error as ServeError {
            XCTAssertTrue(error.message.contains("not a Scaler"), error.message)
        }
    }
}

/// A deployment whose `handle` is declared in an extension, where the `@RayActor` macro does not
/// see it: its replicas are called as distributed calls.
@RayActor
distributed actor ExtensionHandled: Deployment {}

extension ExtensionHandled {
    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse { .text("from an extension") }
}

extension ServeTests {
    func testReplicasAreCalledByTheMacrosKeyOrElseAsDistributedCalls() async throws {
        XCTAssertTrue(Adder._rayMethodKeys.contains("handle(_:)"))
        XCTAssertFalse(ExtensionHandled._rayMethodKeys.contains("handle(_:)"))
        try await Serve.run(Adder.bind(), name: "keyed", routePrefix: "/keyed")
        try await Serve.run(ExtensionHandled.bind(), name: "distributed", routePrefix: "/distributed")
        let keyed = try await Self.send(base + "/keyed", body: "{}")
        XCTAssertEqual(keyed.status, 200, keyed.body)
        XCTAssertEqual(keyed.body, "adder")
        let distributed = try await Self.send(base + "/distributed", body: "{}")
        XCTAssertEqual(distributed.status, 200, distributed.body)
        XCTAssertEqual(distributed.body, "from an extension")
        // Both paths answered; the calls are named `Type.method` either way, as Ray names actor calls.
        let calls = try await ray.state.tasks().map(\.name)
        XCTAssertEqual(Set(calls), ["Adder.handle", "ExtensionHandled.handle"])
    }
}
