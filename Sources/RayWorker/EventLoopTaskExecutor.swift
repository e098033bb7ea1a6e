import NIOCore

/// Runs Swift tasks (and the default actors they call into) on a NIO event loop. A job enqueued
/// from the loop's own thread runs in the same loop iteration, so a message read on the loop, the
/// actor call it starts, and the reply it writes need no other thread to wake up.
package final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    package init(loop: any EventLoop) { self.loop = loop }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
