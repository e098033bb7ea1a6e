import RayCluster
import RayJobs
import RayTransport
import RayWire

/// A job's entrypoint resources set aside as a placement group of one bundle on the head's
/// scheduler: it waits like any group (an autoscaler launches a node for it), shows in
/// `swiftray list placement-groups` as `job <id> entrypoint`, and is removed when the job ends.
/// The entrypoint runs on the node the bundle went to (its daemon starts it).
struct JobReservations: JobPlacement {
    let head: ClusterHead

    func reserve(_ resources: [String: Double], forJob id: String) async throws -> Reservation {
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
        return Reservation(nodeID: await head.bundleNode(of: group)) { _ = await head.placementGroup(.remove(group)) }
    }

    func run(_ launch: EntrypointLaunch, on nodeID: String) async throws {
        try await head.send(.runEntrypoint(launch), toNode: nodeID)
    }

    func stop(jobID: String, on nodeID: String) async {
        try? await head.send(.stopEntrypoint(jobID: jobID), toNode: nodeID)
    }

    /// Hands what nodes report about entrypoints to the job manager.
    /// One at a time, in the order the nodes sent them: a job's exit after its last output (a task
    /// per event let an exit overtake the output before it, and a tail closed without it).
    static func forward(_ head: ClusterHead, to jobs: JobManager) {
        let (events, sink) = AsyncStream<EntrypointEvent>.makeStream()
        head.onEntrypointEvents { sink.yield($0) }
        Task {
            for await event in events {
                switch event {
                case .output(let id, let bytes): await jobs.remoteOutput(id, bytes)
                case .exited(let id, let code, let error): await jobs.remoteExited(id, code: code, error: error)
                case .nodeDied(let node): await jobs.nodeDied(node)
                }
            }
        }
    }
}
