import RayTesting
import SwiftRay
import XCTest

/// The cluster's key-value store, from the driver and from tasks.
final class KeyValueStoreTests: RayTestCase {
    func testPutGetDeleteAndKeys() async throws {
        let added = try await ray.kv.put("alpha", [1, 2, 3])
        XCTAssertTrue(added)
        let kept = try await ray.kv.put("alpha", [9], overwrite: false)
        XCTAssertFalse(kept)
        let value = try await ray.kv.get("alpha")
        XCTAssertEqual(value, [1, 2, 3])
        try await ray.kv.put("alphabet", [4])
        try await ray.kv.put("beta", [5])
        try await ray.kv.put("alpha", [6], namespace: "other")
        let keys = try await ray.kv.keys(prefix: "alpha")
        XCTAssertEqual(keys, ["alpha", "alphabet"])
        let elsewhere = try await ray.kv.get("alpha", namespace: "other")
        XCTAssertEqual(elsewhere, [6])
        let deleted = try await ray.kv.delete("alpha")
        XCTAssertTrue(deleted)
        let gone = try await ray.kv.get("alpha")
        XCTAssertNil(gone)
        let again = try await ray.kv.delete("alpha")
        XCTAssertFalse(again)
    }

    func testTasksShareValuesWithTheDriver() async throws {
        try await ray.kv.put("setting", value: "fast")
        let read = try await ray.get($echoThroughKV.remote("setting"))
        XCTAssertEqual(read, "fast")
        let seen = try await ray.kv.get("setting-seen", as: String.self)
        XCTAssertEqual(seen, ray.nodeID)
        _ = await expectError(RaySerializationError.self) { try await ray.kv.get("setting", as: [Double].self) }
    }
}
