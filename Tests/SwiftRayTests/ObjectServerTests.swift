import Foundation
import RayChaos
import NIOPosix
import RayCluster
import RayNode
import RayObjectStore
import RayWire
import XCTest

/// The object server and puller on their own, over real sockets: a pull copies the file exactly;
/// a wrong token, garbage, or a missing object fail cleanly and the server keeps serving.
final class ObjectServerTests: XCTestCase {
    private var folders: [SharedObjectDirectory] = []

    override func tearDown() {
        for folder in folders { folder.removeAll() }
    }

    private func store(_ name: String) throws -> SharedObjectDirectory {
        let directory = SharedObjectDirectory.forNode("node-test-\(getpid())-\(name)", capacity: 1 << 30)
        try directory.create()
        folders.append(directory)
        return directory
    }

    func testPullsCopyObjectsAndRefuseStrangers() async throws {
        let source = try store("source")
        let target = try store("target")
        let id = RayID(high: 7, low: 9)
        let bytes = (0..<(9 << 20) + 123).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // three chunks and a bit
        XCTAssertTrue(FileManager.default.createFile(atPath: source.file(for: id), contents: Data(bytes)))
        let server = ObjectServer(directory: source, token: "secret")
        let port = try await server.start(host: "127.0.0.1")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

        try await ObjectPuller(directory: target, token: "secret", group: group).pull(id, size: bytes.count, host: "127.0.0.1", port: port).get()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target.file(for: id))), Data(bytes), "the copy is exact")

        let other = try store("other")
        do {
            try await ObjectPuller(directory: other, token: "wrong", group: group).pull(id, size: bytes.count, host: "127.0.0.1", port: port).get()
            XCTFail("a wrong token must be refused")
        } catch let error as ObjectPullError {
            XCTAssertTrue(error.sourceLost, error.message)
        }
        do {
            let missing = RayID(high: 1, low: 1)
            try await ObjectPuller(directory: other, token: "secret", group: group).pull(missing, size: 10, host: "127.0.0.1", port: port).get()
            XCTFail("a missing object cannot be pulled")
        } catch let error as ObjectPullError {
            XCTAssertTrue(error.message.contains("cannot send it"), error.message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: other.file(for: id)), "failed pulls leave nothing")
        XCTAssertEqual(SharedObjectDirectoryListing.names(other.path), [], "no partial files either")

        XCTAssertTrue(RawConnection.closedAfterSending(Array("GET / HTTP/1.1\r\n\r\n".utf8), port: UInt16(port)), "garbage is dropped")
        // The server still serves.
        try await ObjectPuller(directory: other, token: "secret", group: group).pull(id, size: bytes.count, host: "127.0.0.1", port: port).get()
        XCTAssertTrue(FileManager.default.fileExists(atPath: other.file(for: id)))
        await server.shutdown()
        try await group.shutdownGracefully()
    }
}

enum SharedObjectDirectoryListing {
    static func names(_ path: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
}
