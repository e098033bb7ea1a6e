import NIOCore
import NIOEmbedded
import RayNode
import RayNodeTesting
import RayWire
import XCTest

/// A node manager on an `EmbeddedEventLoop` with in-process workers: the test plays the workers
/// (register, answer executions, crash) and runs the loop; nothing happens between those steps.
final class NodeHarness {
    let loop = EmbeddedEventLoop()
    let processes: InProcessWorkers
    let manager: NodeManager
    private var registered: Set<Int> = []
    private var nextID: UInt64 = 1
    /// Every execution a worker received, in order.
    private(set) var executions: [(worker: Int, spec: TaskSpec)] = []

    init(cpus: Double = 2, prestart: Int = 0, resources: [String: Double] = [:]) {
        processes = InProcessWorkers(loop: loop)
        var total = resources
        total["CPU"] = cpus
        let config = NodeConfig(
            nodeID: "node-test", resources: total, workerExecutable: "/nonexistent/worker", prestartWorkers: prestart,
            logToDriver: false)
        manager = NodeManager(config: config, loop: loop, processes: processes)
        manager.start()
        loop.run()
    }

    deinit { try? loop.syncShutdownGracefully() }

    func newID() -> RayID {
        nextID += 1
        return RayID(high: 0xAB, low: nextID)
    }

    func task(_ name: String = "f", cpus: Double = 1, maxRetries: Int = 3, resources: [String: Double] = [:]) -> TaskSpec {
        var demand = resources
        if cpus > 0 { demand["CPU"] = cpus }
        return TaskSpec(taskID: newID(), functionID: name, name: name, args: [], resources: demand, maxRetries: maxRetries, retryExceptions: false)
    }

    func submit(_ spec: TaskSpec) {
        manager.submitOnLoop(spec, holder: nil)
        loop.run()
    }

    /// Workers started and not yet registered say hello.
    func registerNew() {
        for worker in processes.alive where registered.insert(worker.id).inserted {
            worker.send(.register(pid: worker.pid))
        }
        loop.run()
    }

    /// Messages each live worker was sent since the last look, by worker.
    func received() -> [(InProcessWorkers.Worker, [WireMessage])] {
        processes.alive.map { ($0, $0.received()) }.filter { !$0.1.isEmpty }
    }

    /// Plays every worker until nothing more happens: registers new ones, answers each execution
    /// with `answer` (nil: leave it running), and returns the executions seen.
    @discardableResult
    func serve(_ answer: (InProcessWorkers.Worker, TaskSpec) -> ObjectPayload? = { _, spec in .value(value(of: spec)) }) -> [TaskSpec] {
        var seen: [TaskSpec] = []
        while true {
            registerNew()
            let batch = received()
            var progressed = false
            for (worker, messages) in batch {
                for case .execute(let spec) in messages {
                    executions.append((worker.id, spec))
                    seen.append(spec)
                    progressed = true
                    if let payload = answer(worker, spec) { worker.send(.taskDone(spec.taskID, payload)) }
                }
            }
            loop.run()
            if !progressed && processes.alive.allSatisfy({ registered.contains($0.id) }) { return seen }
        }
    }

    /// The objects' payloads if all are finished now (nil if any is not).
    func results(_ ids: [ObjectID]) -> [ObjectPayload]? {
        var result: [ObjectPayload]?
        manager.getOnLoop(ids, timeoutMillis: 0, caller: .none) { result = $0 }
        loop.run()
        return result
    }
}

/// The value a served task returns: its id's low word, as bytes.
func value(of spec: TaskSpec) -> EncodedValue {
    withUnsafeBytes(of: spec.taskID.low.littleEndian) { EncodedValue(bytes: Array($0)) }
}
