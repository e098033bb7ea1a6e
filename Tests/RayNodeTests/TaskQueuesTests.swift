@testable import RayNode
import RayWire
import XCTest

/// The ready-task queues as a component: order per class, hand-backs in front, taking a queue out
/// while more arrive, removal by class.
final class TaskQueuesTests: XCTestCase {
    private let cpu = SchedulingClass(demand: ["CPU": 1], pool: WorkerPool(executable: "w"), strategy: .default)
    private let gpu = SchedulingClass(demand: ["GPU": 1], pool: WorkerPool(executable: "w"), strategy: .default)
    private func id(_ n: UInt64) -> TaskID { RayID(high: 1, low: n) }

    func testClassesKeepSubmissionOrderAndHandBacksGoFirst() {
        var queues = TaskQueues()
        for n: UInt64 in 1...3 { queues.append(id(n), cpu) }
        queues.append(id(9), gpu)
        queues.prepend(id(0), cpu)
        XCTAssertEqual(queues.count, 5)
        XCTAssertEqual(queues.demands[cpu.demand.summary], 4)
        XCTAssertEqual(queues.demands[gpu.demand.summary], 1)
        XCTAssertEqual(Array(queues.take(cpu) ?? []), [id(0), id(1), id(2), id(3)])
    }

    func testATakenQueueGoesBackAheadOfWhatArrivedMeanwhile() {
        var queues = TaskQueues()
        for n: UInt64 in 1...3 { queues.append(id(n), cpu) }
        var taken = queues.take(cpu)!
        taken.removeFirst()  // dispatched
        queues.append(id(4), cpu)  // submitted while the scheduler worked through the class
        queues.putBack(taken, cpu)
        XCTAssertEqual(Array(queues.take(cpu) ?? []), [id(2), id(3), id(4)])
    }

    func testRemovingByClass() {
        var queues = TaskQueues()
        queues.append(id(1), cpu)
        queues.append(id(2), gpu)
        XCTAssertEqual(queues.removeAll { $0 == self.gpu }, [id(2)])
        XCTAssertEqual(queues.classes, [cpu])
        XCTAssertEqual(queues.removeAll(), [id(1)])
        XCTAssertEqual(queues.count, 0)
    }
}
