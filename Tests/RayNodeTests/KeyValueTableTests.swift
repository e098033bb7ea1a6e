import RayNode
import RayWire
import XCTest

/// The key-value store as a component on its own: namespaces, overwrite, delete, prefixes.
final class KeyValueTableTests: XCTestCase {
    func testPutGetOverwriteDeleteAndKeysByNamespace() {
        var table = KeyValueTable()
        XCTAssertEqual(table.apply(.put(namespace: "a", key: "k", value: [1], overwrite: false)), .added(true))
        XCTAssertEqual(table.apply(.put(namespace: "a", key: "k", value: [2], overwrite: false)), .added(false), "kept")
        XCTAssertEqual(table.apply(.get(namespace: "a", key: "k")), .value([1]))
        XCTAssertEqual(table.apply(.put(namespace: "a", key: "k", value: [3], overwrite: true)), .added(false), "replaced, not added")
        XCTAssertEqual(table.apply(.get(namespace: "a", key: "k")), .value([3]))
        XCTAssertEqual(table.apply(.get(namespace: "b", key: "k")), .value(nil), "namespaces are apart")
        _ = table.apply(.put(namespace: "a", key: "kite", value: [], overwrite: true))
        _ = table.apply(.put(namespace: "a", key: "other", value: [], overwrite: true))
        XCTAssertEqual(table.apply(.keys(namespace: "a", prefix: "k")), .keys(["k", "kite"]))
        XCTAssertEqual(table.apply(.delete(namespace: "a", key: "k")), .deleted(1))
        XCTAssertEqual(table.apply(.delete(namespace: "a", key: "k")), .deleted(0))
        XCTAssertEqual(table.count, 2)
    }
}
