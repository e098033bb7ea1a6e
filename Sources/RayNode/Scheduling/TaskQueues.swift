import NIOCore
import RayWire

/// Ready tasks waiting for a worker, by scheduling class (equal demand, pool and strategy), each
/// class in submission order. Owned by the node manager, on its loop.
struct TaskQueues {
    private var queues: [SchedulingClass: CircularBuffer<TaskID>] = [:]

    /// Queues a task behind the others of its class.
    mutating func append(_ id: TaskID, _ cls: SchedulingClass) {
        queues[cls, default: CircularBuffer()].append(id)
    }

    /// Queues a task ahead of the others of its class (a worker handed it back unstarted).
    mutating func prepend(_ id: TaskID, _ cls: SchedulingClass) {
        queues[cls, default: CircularBuffer()].prepend(id)
    }

    /// The classes with tasks waiting.
    var classes: [SchedulingClass] { Array(queues.keys) }

    /// Tasks waiting, over every class.
    var count: Int { queues.values.reduce(0) { $0 + $1.count } }

    /// Tasks waiting per resource shape (for status).
    /// Queued tasks by resource shape.
    var demandShapes: [ResourceSet: Int] {
        var shapes: [ResourceSet: Int] = [:]
        for (cls, queue) in queues where !queue.isEmpty { shapes[cls.demand, default: 0] += queue.count }
        return shapes
    }

    var demands: [String: Int] {
        var demands: [String: Int] = [:]
        for (cls, queue) in queues where !queue.isEmpty { demands[cls.demand.summary, default: 0] += queue.count }
        return demands
    }

    /// Takes a class's queue out to work through it (the node manager may queue more meanwhile);
    /// `putBack` returns what is left.
    mutating func take(_ cls: SchedulingClass) -> CircularBuffer<TaskID>? {
        queues.removeValue(forKey: cls)
    }

    /// Returns the rest of a taken queue, ahead of anything queued for the class since.
    mutating func putBack(_ rest: CircularBuffer<TaskID>, _ cls: SchedulingClass) {
        guard !rest.isEmpty else { return }
        if let newer = queues[cls] {
            var merged = rest
            merged.append(contentsOf: newer)
            queues[cls] = merged
        } else {
            queues[cls] = rest
        }
    }

    /// Removes and returns the tasks of every class that `matches` (all by default).
    mutating func removeAll(where matches: (SchedulingClass) -> Bool = { _ in true }) -> [TaskID] {
        var removed: [TaskID] = []
        for cls in Array(queues.keys) where matches(cls) {
            removed += queues.removeValue(forKey: cls) ?? []
        }
        return removed
    }
}
