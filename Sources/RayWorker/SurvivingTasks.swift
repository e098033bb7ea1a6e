import NIOCore
import RayPlatform
import RayWire

/// A task worker on another node than the head's outlives its head when its tasks can do without
/// it: they run on, what they send (their results first of all) is parked, and the worker
/// re-attaches to the restarted head with the tasks it ran, which binds them to the specs their
/// resuming drivers hand back instead of running them again (Ray's raylets likewise keep running
/// tasks through a GCS restart).
extension WorkerRuntime {
    /// Set while this worker runs its tasks on through its head's absence (on `loop`).
    var isFinishingTasksWithoutHead: Bool { role == .worker && away != nil }

    /// The head's connection closed (on `loop`): keeps running the tasks sent here, parking what
    /// they send. False (the worker should exit, and its tasks run again from their drivers'
    /// lineage) when there is nothing to finish, or a task streams or waits for an answer.
    func keepTasksThroughOutage(head: String) -> Bool {
        loop.assertInEventLoop()
        guard role == .worker, tasksCanOutliveHead else { return false }
        switchChannel(to: nil)
        away = AwaySession(waiting: [])
        lost = HeadConnectionLostError(head: head)  // what a task's request meets: see `outageNeedsHead`
        RayLog.logger.warning("lost the head at \(head); finishing \(unfinishedTasks.count) task(s) to hand their results to a restarted head")
        return true
    }

    /// A task asked the head something while it is away: it cannot go on, so the worker exits, as
    /// it would have with the head (its tasks run again once their drivers resume).
    func outageNeedsHead() -> Never {
        RayLog.logger.warning("a task needs the head while it is away; exiting (its tasks run again from their drivers' lineage)")
        WorkerMain.exitNow(0)
    }

    /// What the worker presents to a restarted head (on `loop`): the tasks still running or queued
    /// here, and those that finished meanwhile (their results parked).
    var tasksToReattach: [TaskID] {
        let finished = away?.parked.compactMap { message -> TaskID? in
            switch message {
            case .taskDone(let id, _), .taskReturns(let id, _): id
            default: nil
            }
        } ?? []
        return unfinishedTasks + finished
    }

    /// Carries on over a connection to a restarted head that took the tasks back (on `loop`): the
    /// refs held first, then what the tasks sent meanwhile.
    func resumeTasks(over channel: any Channel) {
        guard let away else { return }
        self.away = nil
        reattach(channel)
        sendParked(away.parked)
    }

    /// Sends what was parked while the head was away, but reference changes: the held refs sent
    /// first count them.
    func sendParked(_ parked: [WireMessage]) {
        for message in parked {
            switch message {
            case .addRefs, .releaseRefs: continue
            default: send(message)
            }
        }
    }
}
