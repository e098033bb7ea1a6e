import Foundation
import RayTesting
import SwiftRay
import SwiftRayServe
import XCTest

/// Streams "first", then "second N" once N arrives on its gate; `/fail` throws before any chunk.
@RayActor
distributed actor Ticker: StreamingDeployment {
    let gate: Queue<Int>

    init(actorSystem: RayActorSystem, gate: Queue<Int>) {
        self.actorSystem = actorSystem
        self.gate = gate
    }

    func stream(_ request: ServeRequest) -> AsyncThrowingStream<ServeChunk, any Error> {
        let gate = self.gate
        return AsyncThrowingStream { continuation in
            let task = Task {
                if request.path.hasSuffix("/fail") { return continuation.finish(throwing: Refusal()) }
                continuation.yield("first\n")
                do {
                    continuation.yield(ServeChunk("second \(try await gate.get())\n"))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// A bare HTTP/1.1 client over a socket, reading what has arrived so far (URLSession on Linux
/// hands over a body only once it is complete). Blocking reads run on Dispatch's threads, not on
/// the Swift concurrency pool the proxy needs.
final class RawHTTPConnection: @unchecked Sendable {
    private let fd: Int32
    private var received = ""

    init(port: Int, request: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ServeError("cannot connect to port \(port)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
    }

    deinit { close(fd) }

    /// Everything received once it contains `marker` (or the peer closed, or 30 s passed).
    func read(until marker: String) async -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !self.received.contains(marker) {
                    let count = recv(self.fd, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    self.received += String(decoding: buffer[0..<count], as: UTF8.self)
                }
                continuation.resume(returning: self.received)
            }
        }
    }
}

extension ServeTests {
    func testAStreamingDeploymentSendsEachChunkAsItIsYielded() async throws {
        let gate = try await Queue<Int>()
        let handle = try await Serve.run(Ticker.bind { try await Ticker.create(gate: gate, options: $0) }, name: "ticker", routePrefix: "/ticker")
        let port = try XCTUnwrap(URLComponents(string: base)?.port)
        let connection = try RawHTTPConnection(port: port, request: "GET /ticker HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let early = await connection.read(until: "first\n")
        XCTAssertTrue(early.hasPrefix("HTTP/1.1 200"), early)
        XCTAssertTrue(early.lowercased().contains("transfer-encoding: chunked"), early)
        XCTAssertTrue(early.contains("first\n"), "the first chunk arrived while the replica still waits on its gate: \(early)")
        XCTAssertFalse(early.contains("second"))
        try await gate.put(1)
        let whole = await connection.read(until: "\r\n0\r\n\r\n")
        XCTAssertTrue(whole.contains("second 1\n"), whole)
        XCTAssertTrue(whole.hasSuffix("\r\n0\r\n\r\n"), "the chunked body ended: \(whole)")

        // From Swift: chunk by chunk, or gathered.
        var chunks: [String] = []
        for try await chunk in handle.stream(ServeRequest()) {
            chunks.append(chunk.text)
            if chunks.count == 1 { try await gate.put(2) }
        }
        XCTAssertEqual(chunks, ["first\n", "second 2\n"])
        try await gate.put(3)
        let gathered = try await handle.call(ServeRequest())
        XCTAssertEqual(gathered.text, "first\nsecond 3\n")
        XCTAssertEqual(gathered.headers["content-type"], "text/plain; charset=utf-8")

        let failing = try await ServeTests.send(base + "/ticker/fail", method: "GET")
        XCTAssertEqual(failing.status, 500, "an error before the first chunk keeps its status")
        XCTAssertTrue(failing.body.contains("refused on purpose"), failing.body)
        let settled = await RayTesting.eventually(timeout: .seconds(30)) {
            let status = await Serve.status().first
            return status?.ongoingRequests == 0 && status?.servedRequests == 3 && status?.failedRequests == 1
        }
        let final = await Serve.status()
        XCTAssertTrue(settled, "every stream gave its replica slot back: \(final)")
    }
}

extension ServeTests {
    func testABodyDeclaredOverTheLimitIsRefusedAtOnce() async throws {
        try await Serve.run(Adder.bind(), name: "limited", routePrefix: "/limited")
        let port = try XCTUnwrap(URL(string: base)?.port)
        let connection = try RawHTTPConnection(
            port: port, request: "POST /limited HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{")
        let answer = await connection.read(until: "\r\n\r\n")
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 413"), "answered before the body came: \(answer)")
    }
}
