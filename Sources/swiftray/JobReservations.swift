import RayCluster
import RayJobs
import RayTransport
import RayWire

/// A job's entrypoint resources set aside as a placement group of one bundle on the head's
/// scheduler: it waits like any group (an autoscaler launches a node for it), shows in
/// `swiftray list placement-groups` as `job <id> entrypoint`, and is removed when the job ends.
struct JobReservations: ResourceReserver {
    let head: ClusterHead

    func reserve(_ resources: [String: Double], forJob id: String) async throws -> @Sendable () async -> Void {
        let group = RayID(high: .random(in: 1...UInt64.max), low: .random(in: 0...UInt64.max))
        let spec = PlacementGroupSpec(id: group, bundles: [resources], strategy: .pack, name: "job \(id) entrypoint")
        if let error = await head.placementGroup(.create(spec)) { throw ClusterError(error.message) }
        let head = self.head
        let placed = await withTaskCancellationHandler {
            await head.placementGroup(.wait(group, timeoutMillis: -1))
        } onCancel: {
            Task { _ = await head.placementGroup(.remove(group)) }
        }
        if let error = placed {
            _ = await head.placementGroup(.remove(group))
            throw ClusterError(error.message)
        }
        return { _ = await head.placementGroup(.remove(group)) }
    }
}
