import NIOCore
import RayNode
import RayWire
import XCTest

/// A restarted head gives the refs a previous head recorded inside objects kept on other nodes
/// back to those objects as the nodes report them, in whichever order the objects come back.
final class ContainedRefsRecoveryTests: XCTestCase {
    func testAnAdoptedObjectKeepsTheObjectsItRefersToWhicheverIsReportedFirst() {
        for outerFirst in [true, false] {
            let node = NodeHarness(cpus: 1)
            let (outer, inner) = (node.newID(), node.newID())
            let records = RecordedChanges()
            node.manager.restoreContainedRefs([(object: outer, refs: [inner])])
            node.manager.containedRefsChanged = { records.changes.append(($0, $1)); $2() }
            let rejoined = NodeRecord(id: "rejoined", total: ["CPU": 1], isLocal: false)
            let reports = outerFirst ? [outer, inner] : [inner, outer]
            for id in reports {
                _ = node.manager.adoptStoredObjects([StoredObject(id: id, size: 400_000)], on: rejoined)
                node.loop.run()
            }
            node.manager.addRefsOnLoop([outer], holder: nil)  // the resumed driver's
            node.loop.advanceTime(by: .seconds(3))  // past the adoption grace
            let kept = Dictionary(uniqueKeysWithValues: node.manager.stateSnapshot().objects.map { ($0.objectID, $0) })
            XCTAssertEqual(kept["\(outer)"]?.holders, 1, "outer first: \(outerFirst)")
            XCTAssertEqual(kept["\(inner)"]?.pins, 1, "kept by the object that refers to it (outer first: \(outerFirst))")
            XCTAssertEqual(records.changes.map(\.0), [outer], "written through again as adopted")
            XCTAssertEqual(records.changes.first?.1, [inner])

            node.manager.releaseRefsOnLoop([outer], holder: nil)
            node.loop.run()
            XCTAssertEqual(node.manager.stateSnapshot().objects.count, 0, "both freed with the last ref (outer first: \(outerFirst))")
            XCTAssertEqual(records.changes.last?.0, outer)
            XCTAssertNil(records.changes.last?.1 ?? nil, "its record forgotten")
        }
    }

    func testRecordedRefsWhoseObjectNeverCameBackAreForgotten() {
        let node = NodeHarness(cpus: 1)
        let (outer, inner) = (node.newID(), node.newID())
        let records = RecordedChanges()
        node.manager.restoreContainedRefs([(object: outer, refs: [inner])])
        node.manager.containedRefsChanged = { records.changes.append(($0, $1)); $2() }
        node.loop.advanceTime(by: .seconds(301))
        XCTAssertEqual(records.changes.count, 1)
        XCTAssertEqual(records.changes.first?.0, outer)
        XCTAssertNil(records.changes.first?.1 ?? nil)
        // A node reporting it later has it adopted without refs, as before this store.
        let rejoined = NodeRecord(id: "late", total: ["CPU": 1], isLocal: false)
        _ = node.manager.adoptStoredObjects([StoredObject(id: outer, size: 400_000)], on: rejoined)
        node.loop.run()
        XCTAssertEqual(node.manager.stateSnapshot().objects.first?.objectID, "\(outer)")
        XCTAssertEqual(records.changes.count, 1, "nothing recorded for an object without refs")
    }
}

/// A `get` of an object a restarted head does not know waits for its recovery window: a node
/// that has not rejoined yet may still report it.
final class RecoveryWindowGetTests: XCTestCase {
    func testAGetOfAnUnknownObjectWaitsForTheNodesStillExpected() {
        let node = NodeHarness(cpus: 1)
        let kept = node.newID()
        let get = Self.getWhileRecovering(kept, on: node)
        XCTAssertNil(get.answer, "not failed while a node may still report it")
        let rejoined = NodeRecord(id: "rejoining", total: ["CPU": 1], isLocal: false)
        _ = node.manager.adoptStoredObjects([StoredObject(id: kept, size: 400_000)], on: rejoined)
        node.manager.nodeReported("rejoining")
        node.loop.run()
        XCTAssertEqual(get.answer?.first?.sharedObject, kept, "answered with the object the node kept")
    }

    func testAGetOfAnObjectNoNodeKeptFailsOnceTheWindowEnds() {
        let node = NodeHarness(cpus: 1)
        let get = Self.getWhileRecovering(node.newID(), on: node)
        XCTAssertNil(get.answer)
        node.manager.nodeReported("rejoining")
        node.loop.run()
        guard case .error(let error)? = get.answer?.first else { return XCTFail("\(String(describing: get.answer))") }
        XCTAssertEqual(error.kind, .objectLost)
        // Once the window is over, an unknown object fails at once.
        var later: [ObjectPayload]?
        node.manager.getOnLoop([node.newID()], timeoutMillis: 60_000, caller: .none) { later = $0 }
        XCTAssertNotNil(later)
    }

    /// What waited for the window runs before what is handled after it closed, even when it
    /// closed a moment before its waiters ran (here, a resumed owner's lineage making the object).
    func testAGetAfterTheWindowClosedWaitsBehindWhatWaitedForIt() {
        let node = NodeHarness(cpus: 1)
        let made = node.newID()
        node.manager.expectNodes(["rejoining"])
        let manager = node.manager
        manager.afterRecoveryWindow { manager.putOnLoop(made, .value(EncodedValue(bytes: [7])), holder: nil) }
        manager.nodeReported("rejoining")  // the window closes: its waiters run on the next tick
        var answer: [ObjectPayload]?
        manager.getOnLoop([made], timeoutMillis: 60_000, caller: .none) { answer = $0 }
        node.loop.run()
        guard case .value(let value)? = answer?.first else { return XCTFail("\(String(describing: answer))") }
        XCTAssertEqual(value.bytes, [7])
    }
}

extension RecoveryWindowGetTests {
    /// What a `get` was answered, once it was.
    final class GetAnswer {
        var answer: [ObjectPayload]?
    }

    /// A head recovering from a previous one that recorded node `rejoining`, asked for `id`.
    static func getWhileRecovering(_ id: ObjectID, on node: NodeHarness) -> GetAnswer {
        let get = GetAnswer()
        node.manager.expectNodes(["rejoining"])
        node.manager.getOnLoop([id], timeoutMillis: 60_000, caller: .none) { get.answer = $0 }
        node.loop.run()
        return get
    }
}

/// What the node manager handed to its state store, in order.
private final class RecordedChanges {
    var changes: [(ObjectID, [ObjectID]?)] = []
}
