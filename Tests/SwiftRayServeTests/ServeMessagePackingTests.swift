import SwiftRay
import SwiftRayServe
import XCTest

/// Requests and responses pack themselves for the binary encoding; a cut message is an error.
final class ServeMessagePackingTests: XCTestCase {
    func testRequestsAndResponsesRoundTripAndCutMessagesAreRefused() throws {
        let request = ServeRequest(
            method: "POST", path: "/a/é/b", routePrefix: "/a", query: ["q": "1", "": "empty"], headers: ["content-type": "application/json"],
            body: Array("{\"x\": 1}".utf8))
        var bytes: [UInt8] = []
        request.appendRawBytes(to: &bytes)
        XCTAssertEqual(bytes.count, request.rawByteCount)
        XCTAssertEqual(try bytes.withUnsafeBytes { try ServeRequest(rawBytes: $0) }, request)
        let response = ServeResponse(status: 503, headers: ["retry-after": "1"], body: [0, 255, 7])
        var packed: [UInt8] = []
        response.appendRawBytes(to: &packed)
        XCTAssertEqual(try packed.withUnsafeBytes { try ServeResponse(rawBytes: $0) }, response)
        for cut in [0, 3, 10, bytes.count - 1] {
            XCTAssertThrowsError(try bytes.prefix(cut).withUnsafeBytes { try ServeRequest(rawBytes: UnsafeRawBufferPointer($0)) }, "cut at \(cut)")
        }
        var hostile = [UInt8](repeating: 0, count: 12)
        hostile[8] = 0xFF  // a header count far beyond the bytes
        hostile[9] = 0xFF
        XCTAssertThrowsError(try hostile.withUnsafeBytes { try ServeResponse(rawBytes: $0) })
    }
}
