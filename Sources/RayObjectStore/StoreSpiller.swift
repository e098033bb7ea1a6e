import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps a worker node's shared-memory store within its capacity, as the head's node manager does
/// for its own: the node daemon owns the folder's files but not an object table, so this looks at
/// the files themselves. Every `interval` (on its own queue, never the daemon's event loop) it sums
/// the sealed objects' bytes and, over capacity, drops recycled files and then moves the oldest
/// objects to the spill folder, where readers find them (`readableFile`); a reader that mapped a
/// file keeps its mapping. The full marker is set only when nothing more can move, so writers and
/// pulls wait for room instead of failing.
package final class StoreSpiller: @unchecked Sendable {
    private let directory: SharedObjectDirectory
    private let queue = DispatchQueue(label: "swiftray.store-spiller")
    private var timer: (any DispatchSourceTimer)?
    /// Objects moved to disk so far (for logs and tests).
    package private(set) var spilled = 0

    package init(directory: SharedObjectDirectory) { self.directory = directory }

    /// Starts checking every `interval`.
    package func start(every interval: DispatchTimeInterval = .milliseconds(100)) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in self?.check() }
        timer.resume()
        queue.sync { self.timer = timer }
    }

    package func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    /// One pass: spill the oldest objects until the store fits; returns the bytes left in memory.
    @discardableResult
    package func check() -> Int {
        var objects: [(name: String, size: Int, age: timespec)] = []
        var recycled: [(name: String, size: Int)] = []
        var total = 0
        for name in SharedObjectDirectory.entries(of: directory.path) where !name.hasPrefix(".") && !name.hasSuffix(".tmp") {
            var info = stat()
            guard stat("\(directory.path)/\(name)", &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            let size = Int(info.st_size)
            total += size
            if name.hasPrefix("free-") { recycled.append((name, size)) } else { objects.append((name, size, info.st_mtim)) }
        }
        for file in recycled where total > directory.capacity {
            directory.removeRecycled(file.name)
            total -= file.size
        }
        objects.sort { ($0.age.tv_sec, $0.age.tv_nsec) < ($1.age.tv_sec, $1.age.tv_nsec) }
        for object in objects where total > directory.capacity {
            guard directory.spill(named: object.name) else {
                // Freed meanwhile: its bytes are gone anyway. Anything else: the spill folder fails.
                guard access("\(directory.path)/\(object.name)", F_OK) != 0 else { break }
                total -= object.size
                continue
            }
            total -= object.size
            spilled += 1
        }
        let full = total > directory.capacity
        if full != directory.isFull { directory.setFull(full) }
        return total
    }
}
