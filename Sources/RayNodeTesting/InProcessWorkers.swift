import NIOCore
import NIOEmbedded
import RayNode
import RayWire

/// Worker "processes" that are in-memory channels on an `EmbeddedEventLoop`: the node manager
/// starts, messages, kills and reaps them exactly as real ones, and a test plays each worker's
/// part by reading what it was sent and answering. Nothing runs unless the test runs the loop, and
/// time moves only when the test advances it, so every interleaving is reproducible.
package final class InProcessWorkers: WorkerProcesses {
    /// A worker as the test sees it.
    package final class Worker {
        package let id: Int
        package let pid: Int32
        package let channel: EmbeddedChannel
        package let actorID: RayID?
        /// Killed by the node manager (or the test).
        package fileprivate(set) var killed = false

        init(id: Int, pid: Int32, channel: EmbeddedChannel, actorID: RayID?) {
            self.id = id
            self.pid = pid
            self.channel = channel
            self.actorID = actorID
        }

        /// Messages the node manager sent this worker since the last call, in order.
        package func received() -> [WireMessage] {
            var messages: [WireMessage] = []
            while let message = try? channel.readOutbound(as: WireMessage.self) { messages.append(message) }
            return messages
        }

        /// Sends `message` to the node manager as this worker.
        package func send(_ message: WireMessage) {
            guard !killed else { return }
            _ = try? channel.writeInbound(message)
        }
    }

    package let loop: EmbeddedEventLoop
    /// Every worker started, by id, in start order.
    package private(set) var workers: [Int: Worker] = [:]
    package private(set) var startOrder: [Int] = []
    /// Set to make the next starts fail (a missing binary, no memory).
    package var failStarts = false
    /// The exit code reported for a killed worker (SIGKILL).
    package var killedExitCode: Int32 = -9
    private var nextPID: Int32 = 10_000

    package init(loop: EmbeddedEventLoop) { self.loop = loop }

    package func start(_ worker: WorkerHandle, manager: NodeManager) throws {
        if failStarts { throw InProcessStartError() }
        nextPID += 1
        worker.pid = nextPID
        let channel = EmbeddedChannel(handler: WorkerChannelHandler(manager: manager, worker: worker), loop: loop)
        worker.channel = channel
        workers[worker.id] = Worker(id: worker.id, pid: nextPID, channel: channel, actorID: worker.actorID)
        startOrder.append(worker.id)
    }

    package func kill(_ worker: WorkerHandle) { crash(worker.id) }

    package func reap(_ worker: WorkerHandle, manager: NodeManager, exited: @escaping (Int32) -> Void) {
        let code = workers[worker.id]?.killed == true ? killedExitCode : 0
        if holdReaping {
            heldReaps.append { exited(code) }
        } else {
            loop.execute { exited(code) }
        }
    }

    /// Set to hold exits back (as a slow `waitpid`): a dead worker's channel is closed, but the
    /// node manager hears of its exit only at `releaseReaped()`.
    package var holdReaping = false
    private var heldReaps: [() -> Void] = []

    /// Reports the exits held back, in order.
    package func releaseReaped() {
        let reaps = heldReaps
        heldReaps = []
        for reap in reaps { loop.execute(reap) }
    }

    /// The worker dies on its own (a crash): its channel closes as a real process's would.
    package func crash(_ id: Int) {
        guard let fake = workers[id], !fake.killed else { return }
        fake.killed = true
        _ = try? fake.channel.finish()
    }

    /// Workers started and not killed, in start order.
    package var alive: [Worker] { startOrder.compactMap { workers[$0] }.filter { !$0.killed } }
}

/// A start failed on purpose (`InProcessWorkers.failStarts`).
package struct InProcessStartError: Error, CustomStringConvertible {
    package var description: String { "in-process worker start refused by the test" }
}
