import CRayShims
import Dispatch
import NIOCore
import NIOPosix
import RayPlatform
import RayTransport
import RayWire

/// How a node manager starts, kills and reaps the worker processes of its own machine: the seam
/// between scheduling and the operating system. `ProcessWorkers` runs real processes on socket
/// pairs; `InProcessWorkers` (RayNodeTesting) gives each worker an in-memory channel a test drives
/// by hand, on an `EmbeddedEventLoop`, so scheduling, retries and restarts run deterministically.
/// Called on the node manager's loop only.
package protocol WorkerProcesses: AnyObject {
    /// Starts `worker`'s process (its id, pool and role are set): sets its pid, and its channel
    /// once connected (whose messages go to `manager.handle(_:from:)`, its end to
    /// `manager.channelClosed(_:)`).
    /// - Throws: when the process cannot start.
    func start(_ worker: WorkerHandle, manager: NodeManager) throws
    /// Kills the process (it may be gone already).
    func kill(_ worker: WorkerHandle)
    /// Calls `exited` with the process's exit code (negative: the signal) once it is gone, on the
    /// manager's loop.
    func reap(_ worker: WorkerHandle, manager: NodeManager, exited: @escaping (Int32) -> Void)
}

/// Real worker processes: the node manager's binary (or a job's) started with a socket pair as its
/// channel and pipes for its output.
package final class ProcessWorkers: WorkerProcesses {
    package init() {}

    package func start(_ worker: WorkerHandle, manager: NodeManager) throws {
        let launched = try WorkerLauncher.launch(
            executable: worker.pool.executable, workerID: worker.id, nodeID: manager.config.nodeID,
            objectDirectory: manager.config.objectDirectory, variables: worker.pool.environment)
        worker.pid = launched.pid
        connect(worker, fd: launched.channelFD, manager: manager)
        LineForwarder.attach(fd: launched.stdoutFD, toStandardError: false, worker: worker, manager: manager)
        LineForwarder.attach(fd: launched.stderrFD, toStandardError: true, worker: worker, manager: manager)
    }

    package func kill(_ worker: WorkerHandle) {
        sendSignal(worker.pid, SIGKILL)
    }

    package func reap(_ worker: WorkerHandle, manager: NodeManager, exited: @escaping (Int32) -> Void) {
        let pid = worker.pid
        let loop = manager.loop
        let exited = NIOLoopBound(exited, eventLoop: loop)
        DispatchQueue.global().async {
            var status: Int32 = 0
            _ = retryingOnInterrupt { waitpid(pid, &status, 0) }
            let code = swiftray_wait_status_code(status)
            loop.execute { exited.value(code) }
        }
    }

    private func connect(_ worker: WorkerHandle, fd: Int32, manager: NodeManager) {
        let handler = WorkerChannelHandler(manager: manager, worker: worker)
        ClientBootstrap(group: manager.loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addWireHandlers(handler)
                }
            }
            .withConnectedSocket(fd)
            .whenComplete { result in
                switch result {
                case .success(let channel): worker.channel = channel
                case .failure(let error):
                    manager.logger.error("cannot attach worker \(worker.id) channel: \(error)")
                    manager.channelClosed(worker)
                }
            }
    }
}

/// Sends `number` to process `pid` (outside the type, whose `kill` would shadow the C function).
private func sendSignal(_ pid: Int32, _ number: Int32) {
    _ = kill(pid, number)
}
