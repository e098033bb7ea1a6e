import Foundation
import SwiftRay
import Synchronization

/// A node's death half-way through a `ChaosWorkload` (its `midway`), with work running there:
/// ten 1 s tasks spread over the nodes (retried forever), and the node's daemon and its workers
/// SIGKILLed at once (as when its machine is lost) once one of them runs on it. Their results must
/// come back right too (`slowTasksRight`).
public final class NodeKill: Sendable {
    private let daemon: Int32
    private let nodeID: String
    private let folder: String
    private let slow = Mutex<[ObjectRef<Int>]>([])

    /// `daemon`: the pid of node `nodeID`'s daemon; `folder`: where the tasks note their nodes.
    public init(daemon: Int32, nodeID: String, folder: String) {
        self.daemon = daemon
        self.nodeID = nodeID
        self.folder = folder
    }

    /// Starts the slow tasks and kills the node once one runs there (within 60 s, else throws).
    public func strike() async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let refs = (0..<10).map { $chaosSlowSquare.options(maxRetries: -1, schedulingStrategy: .spread).remote($0, 1.0, folder) }
        slow.withLock { $0 = refs }
        let deadline = ContinuousClock.now + .seconds(60)
        while !runsOnNode() {
            guard ContinuousClock.now < deadline else { throw ChaosError("no task ran on node \(nodeID) within 60 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        for pid in [daemon] + WorkerKiller.children(of: daemon) { kill(pid, SIGKILL) }
    }

    /// Whether every slow task answered right (waits up to `timeout`).
    public func slowTasksRight(timeout: Duration = .seconds(120)) async throws -> Bool {
        let squares = try await ray.get(slow.withLock { $0 }, timeout: timeout)
        return squares == (0..<10).map { $0 * $0 }
    }

    private func runsOnNode() -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.contains { $0.hasPrefix("slow-") && $0.hasSuffix("-\(nodeID)") }
    }
}
