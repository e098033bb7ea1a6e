import Foundation
import RayChaos
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RayTesting
import Synchronization
import SwiftRay
import SwiftRayServe
import XCTest

struct Input: Codable { let x: Double }
struct Scaled: Codable, Equatable { let result: Double; let pid: Int32 }
struct Refusal: Error, CustomStringConvertible { var description: String { "refused on purpose" } }

/// Multiplies `x` by its factor; `/fail` throws.
@RayActor
distributed actor Scaler: Deployment {
    let factor: Double

    init(actorSystem: RayActorSystem, factor: Double) {
        self.actorSystem = actorSystem
        self.factor = factor
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        if request.path.hasSuffix("/fail") { throw Refusal() }
        return try .json(Scaled(result: try request.json(Input.self).x * factor, pid: getpid()))
    }
}

/// Holds each request until an item arrives on its gate.
@RayActor
distributed actor Gated: Deployment {
    let gate: Queue<Int>

    init(actorSystem: RayActorSystem, gate: Queue<Int>) {
        self.actorSystem = actorSystem
        self.gate = gate
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        .text("released \(try await gate.get())")
    }
}

/// Answers with the request's query as its header fields (so a test can send any).
@RayActor
distributed actor HeaderEcho: Deployment {
    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        ServeResponse(headers: request.query, body: Array("echoed".utf8))
    }
}

/// Tells load loops to end after their current request (cancelling would abort it).
final class StopFlag: Sendable {
    private let flag = Mutex(false)
    var isSet: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}

/// An HTTP answer.
struct Answer: Sendable {
    let status: Int
    let body: String
    let headers: [String: String]
}

/// Real HTTP against the proxy, real replica processes.
final class ServeTests: XCTestCase {
    var base = ""

    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
        base = try await Serve.start(port: 0)
    }

    override func tearDown() async throws {
        await Serve.shutdown()
        if Ray.isInitialized { try await ray.shutdown() }
    }

    private func send(_ path: String, method: String = "POST", body: String? = nil) async throws -> Answer {
        try await Self.send(base + path, method: method, body: body)
    }

    static func send(_ url: String, method: String = "POST", body: String? = nil, json: Bool = true) async throws -> Answer {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let body {
            request.httpBody = Data(body.utf8)
            if json { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields { headers["\(name)".lowercased()] = "\(value)" }
        return Answer(status: http.statusCode, body: String(decoding: data, as: UTF8.self), headers: headers)
    }

    func testRequestsReachEveryReplicaOverHTTP() async throws {
        try await Serve.run(Scaler.bind(DeploymentConfig(numReplicas: 2)) { try await Scaler.create(factor: 3, options: $0) },
                            name: "scale", routePrefix: "/scale")
        var pids = Set<Int32>()
        for x in 0..<20 {
            let answer = try await send("/scale/predict", body: #"{"x": \#(x)}"#)
            XCTAssertEqual(answer.status, 200, answer.body)
            let scaled = try JSONDecoder().decode(Scaled.self, from: Data(answer.body.utf8))
            XCTAssertEqual(scaled.result, Double(x) * 3)
            pids.insert(scaled.pid)
        }
        XCTAssertEqual(pids.count, 2, "both replicas answered")
        XCTAssertFalse(pids.contains(getpid()), "replicas are processes of their own")
        let status = await Serve.status()
        XCTAssertEqual(status.map(\.name), ["scale"])
        XCTAssertEqual(status.first?.replicas, 2)
        XCTAssertEqual(status.first?.servedRequests, 20)
    }

    func testErrorsAreAnsweredWithTheirStatus() async throws {
        try await Serve.run(Scaler.bind { try await Scaler.create(factor: 2, options: $0) }, name: "scale", routePrefix: "/scale")
        let unknown = try await send("/elsewhere", body: #"{"x": 1}"#)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertTrue(unknown.body.contains("no application serves /elsewhere"), unknown.body)
        let neighbour = try await send("/scalexyz", body: #"{"x": 1}"#)
        XCTAssertEqual(neighbour.status, 404, "a prefix matches whole path segments")
        let garbage = try await send("/scale", body: "{not json")
        XCTAssertEqual(garbage.status, 400)
        XCTAssertTrue(garbage.body.contains("not valid JSON"), garbage.body)
        let wrongShape = try await send("/scale", body: #"{"y": "two"}"#)
        XCTAssertEqual(wrongShape.status, 400, wrongShape.body)
        XCTAssertTrue(wrongShape.body.contains("not JSON of Input"), wrongShape.body)
        let failing = try await send("/scale/fail", body: #"{"x": 1}"#)
        XCTAssertEqual(failing.status, 500)
        XCTAssertTrue(failing.body.contains("refused on purpose"), failing.body)
        let fine = try await send("/scale", body: #"{"x": 4}"#)
        XCTAssertEqual(fine.status, 200, "the replica serves on after errors")
        XCTAssertEqual(try JSONDecoder().decode(Scaled.self, from: Data(fine.body.utf8)).result, 8)
    }

    /// Requests sent back to back on one connection (HTTP pipelining) are answered in their
    /// order, one after the other; a request saying `Connection: close` is answered, then the
    /// proxy closes the connection.
    func testPipelinedRequestsAreAnsweredInOrderAndCloseIsHonoured() async throws {
        try await Serve.run(Scaler.bind { try await Scaler.create(factor: 3, options: $0) }, name: "scale", routePrefix: "/scale")
        let port = try XCTUnwrap(URL(string: base)?.port)
        let request = { (x: Int, close: Bool) in
            let body = #"{"x": \#(x)}"#
            return "POST /scale HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
                + (close ? "Connection: close\r\n" : "") + "\r\n" + body
        }
        let pipelined = try RawHTTPConnection(port: port, request: (1...5).map { request($0, $0 == 5) }.joined() + "GET /nowhere HTTP/1.1\r\n\r\n")
        let started = ContinuousClock.now
        let received = await pipelined.read(until: "never-sent")  // read until the proxy closes
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(20), "the proxy closed the connection")
        let results = received.components(separatedBy: "\"result\":").dropFirst().compactMap { Double($0.prefix { $0 != "}" && $0 != "," }) }
        XCTAssertEqual(results, [3, 6, 9, 12, 15], received)
        XCTAssertEqual(received.components(separatedBy: "HTTP/1.1 200").count - 1, 5, "no answer after the close")
        XCTAssertFalse(received.contains("404"), received)
        let garbage = try RawHTTPConnection(port: port, request: "POST /scale HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}" + "\u{1}NOT HTTP\r\n\r\n")
        let refused = await garbage.read(until: "never-sent")
        XCTAssertTrue(refused.hasPrefix("HTTP/1.1 400"), "the request before the garbage answered first: \(refused)")
        XCTAssertEqual(refused.components(separatedBy: "HTTP/1.1 400").count - 1, 2, "then a 400 for the garbage, and the close: \(refused)")
    }

    /// A replica's header field whose value holds a line break (or whose name is not a token) is
    /// not sent: no response splitting through a replica; nor its framing (the proxy sets the
    /// length); good fields go out as given.
    func testAReplicasHeadersCannotSplitTheResponse() async throws {
        try await Serve.run(HeaderEcho.bind(), name: "echo", routePrefix: "/echo")
        let port = try XCTUnwrap(URL(string: base)?.port)
        let query = "x-fine=yes&x-evil=a%0D%0ASet-Cookie:%20pwned&bad%20name=1&Content-Length=999&transfer-encoding=chunked"
        let connection = try RawHTTPConnection(port: port, request: "GET /echo?\(query) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let received = await connection.read(until: "echoed")
        XCTAssertTrue(received.hasPrefix("HTTP/1.1 200"), received)
        XCTAssertTrue(received.contains("x-fine: yes\r\n"), received)
        XCTAssertFalse(received.lowercased().contains("set-cookie"), received)
        XCTAssertFalse(received.contains("bad name"), received)
        XCTAssertTrue(received.lowercased().contains("content-length: 6\r\n"), "the proxy frames the body: \(received)")
        XCTAssertFalse(received.contains("999") || received.lowercased().contains("transfer-encoding"), received)
        XCTAssertTrue(received.hasSuffix("echoed"), received)
    }

    func testAFullDeploymentAnswers503WithRetryAfter() async throws {
        let gate = try await Queue<Int>()
        try await Serve.run(Gated.bind(DeploymentConfig(maxOngoingRequests: 1, maxQueuedRequests: 1)) {
            try await Gated.create(gate: gate, options: $0)
        }, name: "gated")
        let url = base + "/"
        let first = Task { try await ServeTests.send(url, method: "GET") }
        let second = Task { try await ServeTests.send(url, method: "GET") }
        let busy = await RayTesting.eventually(timeout: .seconds(30), every: .milliseconds(5)) {
            let status = await Serve.status().first
            return status?.ongoingRequests == 1 && status?.queuedRequests == 1
        }
        XCTAssertTrue(busy, "one request on the replica, one queued")
        let refused = try await send("/", method: "GET")
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.headers["retry-after"], "1")
        try await gate.put(1)
        try await gate.put(2)
        let answers = try await [first.value, second.value]
        XCTAssertEqual(answers.map(\.status), [200, 200])
        XCTAssertEqual(Set(answers.map(\.body)), ["released 1", "released 2"])
    }

    func testHandlesStatusAndDelete() async throws {
        let handle = try await Serve.run(Scaler.bind { try await Scaler.create(factor: 10, options: $0) }, name: "tens", routePrefix: "/tens")
        let answer = try await handle.call(try .json(Input(x: 1.5)))
        XCTAssertEqual(try answer.json(Scaled.self).result, 15)
        let again = try await Serve.handle("tens").call(try .json(Input(x: 2)))
        XCTAssertEqual(try again.json(Scaled.self).result, 20)
        do {
            try await Serve.run(Scaler.bind { try await Scaler.create(factor: 1, options: $0) }, name: "other", routePrefix: "/tens")
            XCTFail("a route prefix belongs to one application")
        } catch let error as ServeError {
            XCTAssertTrue(error.message.contains("application tens"), error.message)
        }
        try await Serve.delete("tens")
        let deleted = try await send("/tens", body: #"{"x": 1}"#)
        XCTAssertEqual(deleted.status, 404, "deleted")
        let empty = await Serve.status()
        XCTAssertTrue(empty.isEmpty)
    }

    func testAReplicaKilledUnderLoadIsReplacedAndNoRequestIsLost() async throws {
        try await Serve.run(Scaler.bind(DeploymentConfig(numReplicas: 2)) { try await Scaler.create(factor: 1, options: $0) },
                            name: "scale", routePrefix: "/scale")
        let victim = try JSONDecoder().decode(Scaled.self, from: Data(try await send("/scale", body: #"{"x": 0}"#).body.utf8)).pid
        let url = base + "/scale"
        let answers = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for x in 1...40 {
                group.addTask {
                    if x == 5 { kill(victim, SIGKILL) }
                    return (x, try await ServeTests.send(url, body: #"{"x": \#(x)}"#).status)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(answers.count, 40)
        XCTAssertTrue(answers.values.allSatisfy { $0 == 200 }, "every request answered: \(answers.filter { $0.value != 200 })")
        let replaced = await RayTesting.eventually(timeout: .seconds(30)) { await Serve.status().first?.replicas == 2 }
        XCTAssertTrue(replaced, "the dead replica was replaced")
        var pids = Set<Int32>()
        for x in 0..<20 {
            pids.insert(try JSONDecoder().decode(Scaled.self, from: Data(try await send("/scale", body: #"{"x": \#(x)}"#).body.utf8)).pid)
        }
        XCTAssertFalse(pids.contains(victim))
        XCTAssertEqual(pids.count, 2, "two live replicas serve")
    }
}

struct BatchedAnswer: Codable { let value: Int; let batchSize: Int }

/// Doubles numbers in batches of at most 4, each answer saying how large its batch was.
@RayActor
distributed actor Doubler: Deployment {
    let batcher = ServeBatcher<Int, BatchedAnswer>(maxBatchSize: 4, batchWaitTimeout: .milliseconds(50)) { values in
        values.map { BatchedAnswer(value: $0 * 2, batchSize: values.count) }
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        try .json(await batcher.call(try request.json(Int.self)))
    }
}

extension ServeTests {
    func testConcurrentRequestsAreBatched() async throws {
        try await Serve.run(Doubler.bind(DeploymentConfig(maxOngoingRequests: 16)), name: "double", routePrefix: "/double")
        let url = base + "/double"
        let answers = try await withThrowingTaskGroup(of: BatchedAnswer.self) { group in
            for x in 0..<12 {
                group.addTask { try JSONDecoder().decode(BatchedAnswer.self, from: Data(try await ServeTests.send(url, body: "\(x)").body.utf8)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(answers.map(\.value).sorted(), (0..<12).map { $0 * 2 })
        XCTAssertTrue(answers.allSatisfy { $0.batchSize <= 4 }, "never over maxBatchSize")
        XCTAssertGreaterThan(answers.map(\.batchSize).max() ?? 0, 1, "concurrent calls shared a batch")
    }
}

extension ServeTests {
    /// Ray's `keep_alive_timeout_s`: a connection with no request for that long is closed, whether
    /// it never sent one or sent one and kept the connection open.
    func testIdleConnectionsAreClosedAfterTheKeepAliveTimeout() async throws {
        await Serve.shutdown()
        base = try await Serve.start(port: 0, keepAliveTimeout: .seconds(1))
        let port = try UInt16(XCTUnwrap(URL(string: base)?.port))
        guard let silent = RawConnection(port: port), let kept = RawConnection(port: port) else { return XCTFail("cannot connect to \(base)") }
        XCTAssertTrue(kept.send(Array("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        XCTAssertTrue(String(decoding: kept.read(upTo: 12, within: .seconds(5)), as: UTF8.self).hasPrefix("HTTP/1.1 404"), "answered first")
        XCTAssertTrue(silent.closedByPeer(within: .seconds(5)), "a connection that never sent a request is closed")
        XCTAssertTrue(kept.closedByPeer(within: .seconds(5)), "a kept-alive connection left idle is closed")
    }

    func testARequestPastTheTimeoutGets408() async throws {
        await Serve.shutdown()
        base = try await Serve.start(port: 0, requestTimeout: .milliseconds(200))
        let gate = try await Queue<Int>()
        try await Serve.run(Gated.bind { try await Gated.create(gate: gate, options: $0) }, name: "gated")
        let late = try await send("/", method: "GET")
        XCTAssertEqual(late.status, 408, late.body)
        XCTAssertTrue(late.body.contains("no answer within"), late.body)
        try await gate.put(1)  // the held call ends in its replica
        try await gate.put(2)
        let answered = try await send("/", method: "GET")
        XCTAssertEqual(answered.status, 200, "answered in time when the gate is open")
        XCTAssertEqual(answered.body, "released 2")
    }
}

/// A pipeline over two deployments given by their handles: scales `x` by both and adds the results
/// (an ensemble), answering from its own process.
@RayActor
distributed actor Ensemble: Deployment {
    let first: DeploymentHandle
    let second: DeploymentHandle

    init(actorSystem: RayActorSystem, first: DeploymentHandle, second: DeploymentHandle) {
        self.actorSystem = actorSystem
        self.first = first
        self.second = second
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        let input = try request.json(Input.self)
        async let a: Scaled = first.call(json: input)
        async let b: Scaled = second.call(json: input)
        let (left, right) = try await (a, b)
        return try .json(["sum": left.result + right.result, "from": Double(getpid())])
    }
}

extension ServeTests {
    func testDeploymentsComposeThroughHandles() async throws {
        let double = try await Serve.run(Scaler.bind { try await Scaler.create(factor: 2, options: $0) }, name: "double", routePrefix: "/double")
        let triple = try await Serve.run(Scaler.bind(DeploymentConfig(numReplicas: 2)) { try await Scaler.create(factor: 3, options: $0) },
                                         name: "triple", routePrefix: "/triple")
        try await Serve.run(Ensemble.bind { try await Ensemble.create(first: double, second: triple, options: $0) },
                            name: "ensemble", routePrefix: "/ensemble")
        for x in 1...6 {
            let answer = try await send("/ensemble", body: #"{"x": \#(x)}"#)
            XCTAssertEqual(answer.status, 200, answer.body)
            let sum = try JSONDecoder().decode([String: Double].self, from: Data(answer.body.utf8))
            XCTAssertEqual(sum["sum"], Double(x) * 5)
            XCTAssertNotEqual(sum["from"], Double(getpid()), "combined in the ensemble's replica")
        }
        let status = await Serve.status()
        XCTAssertEqual(status.map(\.name), ["double", "ensemble", "triple"])
    }
}

extension ServeTests {
    func testRedeployingUnderLoadFailsNoRequest() async throws {
        try await Serve.run(Scaler.bind(DeploymentConfig(numReplicas: 2)) { try await Scaler.create(factor: 2, options: $0) },
                            name: "scale", routePrefix: "/scale")
        let url = base + "/scale"
        let stop = StopFlag()
        let load = Task {
            try await withThrowingTaskGroup(of: [Answer].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var answers: [Answer] = []
                        while !stop.isSet { answers.append(try await ServeTests.send(url, body: #"{"x": 1}"#)) }
                        return answers
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        // Some answers from the first version, then the new one deployed under the running load.
        let before = await RayTesting.eventually(timeout: .seconds(30)) { (await Serve.status().first?.servedRequests ?? 0) >= 20 }
        XCTAssertTrue(before)
        try await Serve.run(Scaler.bind(DeploymentConfig(numReplicas: 2)) { try await Scaler.create(factor: 3, options: $0) },
                            name: "scale", routePrefix: "/scale")
        let atRoll = await Serve.status().first?.servedRequests ?? 0  // the counts go on across versions
        let after = await RayTesting.eventually(timeout: .seconds(30)) { (await Serve.status().first?.servedRequests ?? 0) >= atRoll + 20 }
        XCTAssertTrue(after, "the new replicas serve")
        stop.set()
        let answers = try await load.value
        XCTAssertTrue(answers.allSatisfy { $0.status == 200 }, "no failed request: \(answers.filter { $0.status != 200 }.prefix(3).map(\.body))")
        let results = answers.compactMap { try? JSONDecoder().decode(Scaled.self, from: Data($0.body.utf8)).result }
        XCTAssertEqual(results.count, answers.count)
        XCTAssertEqual(results.first, 2, "first version")
        XCTAssertEqual(results.last, 3, "then the new one")
    }
}

/// Works 20 ms per request (a stand-in for a model's compute).
@RayActor
distributed actor Busy: Deployment {
    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        try await Task.sleep(for: .milliseconds(20))
        return .text("\(getpid())")
    }
}

extension ServeTests {
    func testAutoscalingFollowsALoadItGeneratesUpAndDown() async throws {
        let policy = AutoscalingConfig(
            minReplicas: 1, maxReplicas: 3, targetOngoingRequests: 1, upscaleDelay: .zero, downscaleDelay: .milliseconds(300),
            metricsInterval: .milliseconds(20))
        try await Serve.run(Busy.bind(DeploymentConfig(maxOngoingRequests: 4, autoscaling: policy)), name: "busy")
        let initial = await Serve.status().first?.replicas
        XCTAssertEqual(initial, 1)
        let url = base + "/", stop = StopFlag()
        let load = Task {
            try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        var statuses: [Int] = []
                        while !stop.isSet { statuses.append(try await ServeTests.send(url, method: "GET").status) }
                        return statuses
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        let up = await RayTesting.eventually(timeout: .seconds(60)) { await Serve.status().first?.replicas == 3 }
        stop.set()
        let statuses = try await load.value
        XCTAssertTrue(up, "six concurrent requests at a target of one each: the maximum of three replicas")
        XCTAssertTrue(statuses.allSatisfy { $0 == 200 }, "no request failed while scaling")
        let down = await RayTesting.eventually(timeout: .seconds(60)) { await Serve.status().first?.replicas == 1 }
        XCTAssertTrue(down, "back to the minimum once the load is gone")
    }

    func testADeploymentScaledToZeroServesItsFirstRequest() async throws {
        let policy = AutoscalingConfig(
            minReplicas: 0, maxReplicas: 1, targetOngoingRequests: 1, upscaleDelay: .zero, downscaleDelay: .milliseconds(200),
            metricsInterval: .milliseconds(20))
        try await Serve.run(Busy.bind(DeploymentConfig(autoscaling: policy)), name: "busy")
        let none = await Serve.status().first?.replicas
        XCTAssertEqual(none, 0, "no replica before any request")
        let first = try await send("/", method: "GET")
        XCTAssertEqual(first.status, 200, "held until a replica was up")
        let idle = await RayTesting.eventually(timeout: .seconds(60)) { await Serve.status().first?.replicas == 0 }
        XCTAssertTrue(idle, "scaled to zero again")
        let again = try await send("/", method: "GET")
        XCTAssertEqual(again.status, 200)
    }
}
