import Foundation
import RayWire
import Synchronization

/// One sample of the cluster over time, for the dashboard's charts.
struct Sample: Codable, Sendable {
    /// Seconds since the epoch.
    let time: Double
    let runningTasks: Int
    let finishedTasks: Int
    let cpuUsed: Double
    let cpuTotal: Double
    let objectBytes: Int
    let aliveActors: Int
}

/// The last ten minutes of samples, one a second, taken once the dashboard has been opened (a
/// program nobody watches pays no per-second snapshot on its scheduler).
final class History: Sendable {
    private let stored = Mutex<[Sample]>([])
    private let watchedFlag = Atomic<Bool>(false)

    /// Someone asked the dashboard for something: sampling starts.
    func markWatched() { watchedFlag.store(true, ordering: .relaxed) }
    var watched: Bool { watchedFlag.load(ordering: .relaxed) }
    static let kept = 600

    func add(_ state: ClusterState) {
        let live = state.nodes.filter(\.alive)
        let total = live.reduce(0) { $0 + ($1.total["CPU"] ?? 0) }
        let free = live.reduce(0) { $0 + ($1.available["CPU"] ?? 0) }
        let sample = Sample(
            time: Date().timeIntervalSince1970, runningTasks: state.tasks.filter { $0.state == .running }.count,
            finishedTasks: state.tasks.filter { $0.state == .finished || $0.state == .failed }.count,
            cpuUsed: total - free, cpuTotal: total, objectBytes: state.objects.reduce(0) { $0 + $1.size },
            aliveActors: state.actors.filter { $0.state == .alive }.count)
        stored.withLock { samples in
            samples.append(sample)
            if samples.count > Self.kept { samples.removeFirst(samples.count - Self.kept) }
        }
    }

    var samples: [Sample] { stored.withLock { $0 } }
}
