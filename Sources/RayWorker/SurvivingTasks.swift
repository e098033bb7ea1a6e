import NIOCore
import RayPlatform
import RayWire

/// A task worker on another node than the head's outlives its head when its tasks can do without
/// it: they run on, what they send (their results first of all) is parked, and the worker
/// re-attaches to the restarted head with the tasks it ran, which binds them to the specs their
/// resuming drivers hand back instead of running them again (Ray's raylets likewise keep running
/// tasks through a GCS restart).
extension WorkerRuntime {
    /// The head's connection closed (on `loop`): keeps running the tasks sent here, parking what
    /// they send (requests included: they wait, and are sent again, as a driver's do). False (the
    /// worker should exit, and its tasks run again from their drivers' lineage) when there is
    /// nothing to finish, or a task streams or waits for a stream's items.
    func keepTasksThroughOutage(head: String) -> Bool {
        loop.assertInEventLoop()
        guard role == .worker, tasksCanOutliveHead else { return false }
        switchChannel(to: nil)
        away = AwaySession(waiting: pending.keptIDs)
        RayLog.logger.warning("lost the head at \(head); finishing \(unfinishedTasks.count) task(s) to hand their results to a restarted head")
        return true
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
    /// refs held and the lineage of what the tasks submitted first (the head binds it to this
    /// worker once a resuming driver claims one of its tasks), then the requests that were
    /// waiting, then what the tasks sent meanwhile.
    func resumeTasks(over channel: any Channel) {
        guard let away else { return }
        self.away = nil
        reattach(channel, parked: away.parked)
        resentAfterOutage = pending.keptIDs  // those waiting at the loss, and those made since
        resend(after: away)
    }

    /// A `get` sent again to the restarted head found an object lost with the old one (a small
    /// value that lived in it, or a result whose task may not run again). That is the crash's
    /// doing, not the task's: the worker exits, as it would have with the head, so its tasks are
    /// retried as after any worker's death (`maxRetries`), rather than failing with the error.
    func lostWithHead() -> Never {
        RayLog.logger.warning("an object a task waited for through the head's absence was lost with it; exiting so that its tasks are retried")
        WorkerMain.exitNow(0)
    }

    /// Whether a reply reports an object lost.
    static func findsObjectsLost(_ reply: WireMessage) -> Bool {
        guard case .getReply(_, let results?) = reply else { return false }
        return results.contains { if case .error(let error) = $0 { error.kind == .objectLost } else { false } }
    }

    /// Sends the requests that waited when the head was lost again, then what was parked since.
    func resend(after away: AwaySession) {
        for message in pending.messages(of: away.waiting) { send(message) }
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
