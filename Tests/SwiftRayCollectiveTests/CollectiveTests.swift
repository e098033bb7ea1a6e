import Foundation
import SwiftRay
import SwiftRayCollective
import XCTest

/// A group member in a worker process of its own.
@RayActor
distributed actor CollectiveMember {
    private var group: CollectiveGroup?

    /// Joins and reports the link transports ("sharedMemory"/"tcp", to next then from previous).
    distributed func join(_ name: String, rank: Int, size: Int, chunkBytes: Int) async throws -> [String] {
        let joined = try await CollectiveGroup.join(name, rank: rank, worldSize: size, timeout: .seconds(30), chunkBytes: chunkBytes)
        group = joined
        return [joined.transports.toNext?.rawValue ?? "none", joined.transports.fromPrevious?.rawValue ?? "none"]
    }

    distributed func allreduce(_ values: [Double], op: ReduceOp) async throws -> [Double] {
        var buffer = values
        try await member().allreduce(&buffer, op: op)
        return buffer
    }

    distributed func allreduceFloats(_ values: [Float], op: ReduceOp) async throws -> [Float] {
        var buffer = values
        try await member().allreduce(&buffer, op: op)
        return buffer
    }

    distributed func allgather(_ values: [Double]) async throws -> [[Double]] { try await member().allgather(values) }

    distributed func reduceScatter(_ values: [Double], op: ReduceOp) async throws -> [Double] {
        try await member().reduceScatter(values, op: op)
    }

    distributed func broadcast(_ values: [Double], root: Int) async throws -> [Double] {
        var buffer = values
        try await member().broadcast(&buffer, from: root)
        return buffer
    }

    distributed func barrier() async throws -> Bool {
        try await member().barrier()
        return true
    }

    /// Joins `name`, receives (or as rank 0 sends) one broadcast and leaves at once: the root
    /// is done sending long before the other has read every chunk.
    distributed func broadcastOnceAndLeave(_ name: String, rank: Int, values: [Double]) async throws -> [Double] {
        let once = try await CollectiveGroup.join(name, rank: rank, worldSize: 2, timeout: .seconds(30), chunkBytes: 4096)
        defer { once.destroy() }
        var buffer = values
        try await once.broadcast(&buffer, from: 0)
        return buffer
    }

    distributed func isClosed() -> Bool { group?.isClosed ?? true }

    private func member() throws -> CollectiveGroup {
        guard let group else { throw CollectiveError.invalidArgument("not joined") }
        return group
    }
}

/// `ray.util.collective`'s cases on real worker processes: rings of 2 and 3 members over shared
/// memory, failures, strangers on the port.
final class CollectiveTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 4, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    /// `size` members joined to `name`, each in its own process.
    static func members(_ size: Int, name: String, chunkBytes: Int = 4096, options: (Int) -> ActorOptions = { _ in ActorOptions() })
        async throws -> (members: [CollectiveMember], transports: [[String]]) {
        var members: [CollectiveMember] = []
        for rank in 0..<size { members.append(try await CollectiveMember.create(options: options(rank))) }
        let joins = members.enumerated().map { rank, member in member.remote.join(name, rank: rank, size: size, chunkBytes: chunkBytes) }
        var transports: [[String]] = []
        for join in joins { transports.append(try await join.get(timeout: .seconds(60))) }
        return (members, transports)
    }

    /// Rank r's buffer: values that make every operation's result checkable.
    static func buffer(rank: Int, count: Int) -> [Double] {
        (0..<count).map { Double($0 % 97) * 0.25 + Double(rank) * 1000 + (rank == 1 ? 0.5 : 0) }
    }

    func testTwoMembersOverSharedMemoryComputeEveryOperation() async throws {
        let (members, transports) = try await Self.members(2, name: "pair")
        XCTAssertEqual(transports, [["sharedMemory", "sharedMemory"], ["sharedMemory", "sharedMemory"]], "same node: shared memory")
        // Long enough for many chunks of 4 KiB, and odd so segments differ in length.
        let count = 10_001
        let inputs = (0..<2).map { Self.buffer(rank: $0, count: count) }
        for op in ReduceOp.allCases {
            let results = try await gather(members.indices.map { members[$0].remote.allreduce(inputs[$0], op: op) })
            let expected = (0..<count).map { index -> Double in
                let a = inputs[0][index], b = inputs[1][index]
                switch op {
                case .sum: return a + b
                case .mean: return (a + b) / 2
                case .min: return min(a, b)
                case .max: return max(a, b)
                }
            }
            XCTAssertEqual(results[0], expected, "\(op)")
            XCTAssertEqual(results[1], expected, "\(op) on rank 1")
        }
        let floats = try await gather(members.indices.map { rank in
            members[rank].remote.allreduceFloats(inputs[rank].map(Float.init), op: .sum)
        })
        XCTAssertEqual(floats[0], (0..<count).map { Float(inputs[0][$0]) + Float(inputs[1][$0]) })
        XCTAssertEqual(floats[0], floats[1])

        let gathered = try await gather(members.indices.map { members[$0].remote.allgather(inputs[$0]) })
        XCTAssertEqual(gathered[0], inputs)
        XCTAssertEqual(gathered[1], inputs)

        let broadcast = try await gather(members.indices.map { members[$0].remote.broadcast(inputs[$0], root: 1) })
        XCTAssertEqual(broadcast, [inputs[1], inputs[1]])

        let scattered = try await gather(members.indices.map { members[$0].remote.reduceScatter(inputs[$0], op: .sum) })
        let sums = (0..<count).map { inputs[0][$0] + inputs[1][$0] }
        XCTAssertEqual(scattered[0], Array(sums[0..<5001]), "rank 0 gets the first (longer) part")
        XCTAssertEqual(scattered[1], Array(sums[5001...]))

        let barrier = try await gather(members.map { $0.remote.barrier() })
        XCTAssertEqual(barrier, [true, true])
    }

    func testThreeMembersAgreeAndEmptyBuffersWork() async throws {
        let (members, _) = try await Self.members(3, name: "trio", chunkBytes: 1024)
        let inputs = (0..<3).map { Self.buffer(rank: $0, count: 3_001) }
        let results = try await gather(members.indices.map { members[$0].remote.allreduce(inputs[$0], op: .sum) })
        let expected = (0..<3_001).map { inputs[0][$0] + inputs[1][$0] + inputs[2][$0] }
        for result in results {
            XCTAssertEqual(result.count, expected.count)
            for index in expected.indices { XCTAssertEqual(result[index], expected[index], accuracy: 1e-9) }
        }
        XCTAssertEqual(results[0], results[1], "bit-identical on every member")
        XCTAssertEqual(results[1], results[2])
        let empty = try await gather(members.map { $0.remote.allreduce([], op: .sum) })
        XCTAssertEqual(empty, [[], [], []])
        let broadcast = try await gather(members.indices.map { members[$0].remote.broadcast(inputs[$0], root: 2) })
        XCTAssertEqual(broadcast, [inputs[2], inputs[2], inputs[2]])
        let gathered = try await gather(members.indices.map { members[$0].remote.allgather(inputs[$0]) })
        XCTAssertEqual(gathered[1], inputs)
    }

    func testADeadMemberFailsTheOperationOnEveryMember() async throws {
        let (members, _) = try await Self.members(3, name: "doomed")
        let input = Self.buffer(rank: 0, count: 50_000)
        let waiting = [members[0].remote.allreduce(input, op: .sum), members[1].remote.allreduce(input, op: .sum)]
        try ray.kill(members[2])
        for (rank, ref) in waiting.enumerated() {
            do {
                _ = try await ref.get(timeout: .seconds(60))
                XCTFail("rank \(rank) finished without rank 2")
            } catch let error as RayTaskError {
                XCTAssertTrue(error.message.contains("died or left the group"), "rank \(rank): \(error)")
            }
        }
        let closed = try await gather(members[0...1].map { $0.remote.isClosed() })
        XCTAssertEqual(closed, [true, true], "the group is closed after the failure")
        do {
            _ = try await members[0].remote.allreduce(input, op: .sum).get(timeout: .seconds(30))
            XCTFail("a closed group runs nothing")
        } catch let error as RayTaskError {
            XCTAssertTrue(error.message.contains("is closed"), "\(error)")
        }
    }

    func testMismatchedCallsFailWithTheDifferenceOnBothMembers() async throws {
        let (members, _) = try await Self.members(2, name: "mismatch")
        let refs = [members[0].remote.allreduce([1, 2, 3], op: .sum), members[1].remote.allreduce([1, 2, 3, 4], op: .sum)]
        for ref in refs {
            do {
                _ = try await ref.get(timeout: .seconds(60))
                XCTFail("mismatched lengths must fail")
            } catch let error as RayTaskError {
                XCTAssertTrue(error.message.contains("members disagree") || error.message.contains("died or left"), "\(error)")
            }
        }
    }

    func testStrangersOnTheRendezvousPortAreRefusedAndTheGroupStillForms() async throws {
        let first = try await CollectiveMember.create()
        let second = try await CollectiveMember.create()
        let joinFirst = first.remote.join("guarded", rank: 0, size: 2, chunkBytes: 4096)
        // Rank 0 listens and waits for rank 1; its published entry gives the port.
        var port: Int?
        for _ in 0..<600 where port == nil {
            if let bytes = try await ray.kv.get("guarded/0", namespace: "_swiftray_collective"),
               let entry = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] {
                port = entry["port"] as? Int
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let listening = try XCTUnwrap(port, "rank 0 published where it listens")
        try Self.sendGarbage(to: listening, bytes: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        let guess = Array(#"{"group":"guarded","fromRank":1,"worldSize":2,"secret":"guess","slotBytes":4096}"#.utf8)
        try Self.sendGarbage(to: listening, bytes: withUnsafeBytes(of: UInt32(guess.count).littleEndian, Array.init) + guess)
        let joinSecond = second.remote.join("guarded", rank: 1, size: 2, chunkBytes: 4096)
        _ = try await joinFirst.get(timeout: .seconds(60))
        _ = try await joinSecond.get(timeout: .seconds(60))
        let results = try await gather([first.remote.allreduce([1, 2], op: .sum), second.remote.allreduce([3, 4], op: .sum)])
        XCTAssertEqual(results, [[4, 6], [4, 6]])
    }

    func testLeavingRightAfterAnOperationLosesNothing() async throws {
        // Regression: a member that closed its links with unread releases made the kernel reset
        // the connection, and its neighbour lost the operation's last chunk.
        let first = try await CollectiveMember.create(), second = try await CollectiveMember.create()
        for round in 0..<12 {
            let values = Self.buffer(rank: 0, count: 100_000)
            let refs = [first.remote.broadcastOnceAndLeave("leave-\(round)", rank: 0, values: values),
                        second.remote.broadcastOnceAndLeave("leave-\(round)", rank: 1, values: Array(repeating: 0, count: 100_000))]
            let received = try await gather(refs)
            XCTAssertEqual(received[1], values, "round \(round)")
        }
    }

    func testBadArgumentsAreTypedErrors() async throws {
        for (rank, size) in [(2, 2), (-1, 2), (0, 0)] {
            do {
                _ = try await CollectiveGroup.join("bad", rank: rank, worldSize: size)
                XCTFail("rank \(rank) of \(size) accepted")
            } catch let error as CollectiveError {
                guard case .invalidArgument = error else { return XCTFail("\(error)") }
            }
        }
        do {
            _ = try await CollectiveGroup.join("alone", rank: 0, worldSize: 2, timeout: .milliseconds(300))
            XCTFail("a group whose other member never comes must time out")
        } catch let error as CollectiveError {
            XCTAssertEqual(error, .rendezvousTimeout(group: "alone", missing: [1]))
        }
        let single = try await CollectiveGroup.join("single", rank: 0, worldSize: 1)
        var values: [Double] = [1, 2]
        try await single.allreduce(&values, op: .mean)
        XCTAssertEqual(values, [1, 2], "a group of one returns its own buffer")
        single.destroy()
        do {
            try await single.barrier()
            XCTFail("a destroyed group runs nothing")
        } catch let error as CollectiveError {
            XCTAssertEqual(error, .groupClosed("single"))
        }
    }

    private func gather<T: Codable & Sendable>(_ refs: [ObjectRef<T>]) async throws -> [T] {
        var values: [T] = []
        for ref in refs { values.append(try await ref.get(timeout: .seconds(120))) }
        return values
    }

    /// Connects to `port`, writes `bytes`, and closes.
    static func sendGarbage(to port: Int, bytes: [UInt8]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
