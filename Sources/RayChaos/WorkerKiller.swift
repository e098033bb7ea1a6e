import Foundation
import Synchronization
import SwiftRay

/// SIGKILLs a random worker process every `interval` while a workload runs: the workers are the
/// child processes of `parents` (an embedded cluster's driver, or node daemons). Which worker dies
/// is drawn from `seed`; how many died is what `stop()` returns.
public final class WorkerKiller: Sendable {
    private let parents: [Int32]
    private let interval: Duration
    private let seed: UInt64
    private let state = Mutex<(task: Task<Void, Never>?, kills: Int)>((nil, 0))

    public init(parents: [Int32], interval: Duration = .milliseconds(100), seed: UInt64) {
        self.parents = parents
        self.interval = interval
        self.seed = seed
    }

    /// Starts killing.
    public func start() {
        let task = Task { [self] in
            var random = SeededRandom(seed: seed)
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                let workers = parents.flatMap(Self.children(of:))
                guard !workers.isEmpty, !Task.isCancelled else { continue }
                let victim = workers[Int.random(in: 0..<workers.count, using: &random)]
                if kill(victim, SIGKILL) == 0 { state.withLock { $0.kills += 1 } }
            }
        }
        state.withLock { $0.task = task }
    }

    /// Stops killing; returns the number of workers killed.
    @discardableResult
    public func stop() async -> Int {
        let task = state.withLock { $0.task }
        task?.cancel()
        await task?.value
        return state.withLock { $0.kills }
    }

    /// The live child processes of `pid` (from `/proc/*/stat`, zombies left out).
    public static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // After "pid (name)": state, ppid, ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && fields[0] != "Z" && Int32(fields[1]) == pid
        }
    }
}
