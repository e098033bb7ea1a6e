import Foundation
import Logging
import SwiftRay
import Synchronization

/// Writes dataset executions to the cluster's key-value store for the dashboard's Data page and
/// `/metrics`, one write at a time and only the latest state of each (so a slow store never queues
/// updates, and a final state is never overtaken by an older one). A process keeps its newest
/// `DatasetStatus.keptPerDriver` executions; a failed write is logged once and never stops a run.
actor DatasetPublisher {
    static let shared = DatasetPublisher()
    private static let executions = Atomic<Int>(0)
    private static let logger = Logger(label: "swiftray.data")

    private var pending: [String: DatasetStatus] = [:]
    private var published: [String] = []
    /// Runs whose final state arrived (updates race in as separate tasks: an older one is dropped).
    private var ended: Set<String> = []
    private var sending = false
    private var complained = false

    /// The status of an execution starting now, under a key unique to this process and run.
    static func newStatus(name: String?) -> DatasetStatus {
        let number = executions.add(1, ordering: .relaxed).newValue
        let pid = getpid()
        let now = now()
        return DatasetStatus(
            datasetID: "\(name ?? "dataset")-\(pid)-\(number)", name: name ?? "dataset_\(number)", driverPID: pid, state: "RUNNING",
            startedAt: now, updatedAt: now, endedAt: nil, error: nil, operators: [])
    }

    /// Microseconds since 1970.
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e6) }

    nonisolated func publish(_ status: DatasetStatus) {
        Task { await self.enqueue(status) }
    }

    private func enqueue(_ status: DatasetStatus) async {
        if ended.contains(status.datasetID) { return }
        if status.endedAt != nil { ended.insert(status.datasetID) }
        if let waiting = pending[status.datasetID], waiting.updatedAt > status.updatedAt { return }
        pending[status.datasetID] = status
        guard !sending else { return }
        sending = true
        defer { sending = false }
        while let (key, next) = pending.first {
            pending[key] = nil
            await write(key, next)
        }
    }

    private func write(_ key: String, _ status: DatasetStatus) async {
        guard Ray.isInitialized, let data = try? JSONEncoder().encode(status) else { return }
        if !published.contains(key) {
            published.append(key)
            if published.count > DatasetStatus.keptPerDriver {
                let old = published.removeFirst()
                ended.remove(old)
                _ = try? await ray.kv.delete(old, namespace: DatasetStatus.namespace)
            }
        }
        do {
            _ = try await ray.kv.put(key, Array(data), namespace: DatasetStatus.namespace)
        } catch {
            guard Ray.isInitialized, !complained else { return }
            complained = true
            Self.logger.warning("cannot publish dataset statistics to the dashboard (\(error)); going on without them")
        }
    }
}
