import RayWire
import Synchronization

/// Finished objects, readable from any thread: the driver's `get` of a ready object answers
/// from here without a hop to the node manager's loop. The loop inserts on finish and removes on
/// free; a reader holds a ref, so what it reads cannot be freed under it.
package final class ReadyObjects: Sendable {
    private let payloads = Mutex<[ObjectID: ObjectPayload]>([:])

    func insert(_ id: ObjectID, _ payload: ObjectPayload) { payloads.withLock { $0[id] = payload } }

    func remove(_ id: ObjectID) { _ = payloads.withLock { $0.removeValue(forKey: id) } }

    /// The positions of the first `count` ready objects, if that many are ready.
    package func firstReady(_ ids: [ObjectID], count: Int) -> [Int]? {
        payloads.withLock { payloads in
            var found: [Int] = []
            for (index, id) in ids.enumerated() where payloads[id] != nil {
                found.append(index)
                if found.count >= count { return found }
            }
            return found.count >= count ? found : nil
        }
    }

    /// All the payloads, in order, if every one is ready.
    package func lookup(_ ids: [ObjectID]) -> [ObjectPayload]? {
        payloads.withLock { payloads in
            var found: [ObjectPayload] = []
            found.reserveCapacity(ids.count)
            for id in ids {
                guard let payload = payloads[id] else { return nil }
                found.append(payload)
            }
            return found
        }
    }
}
