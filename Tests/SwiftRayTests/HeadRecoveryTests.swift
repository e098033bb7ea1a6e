import Foundation
import RayTesting
import SwiftRay
import XCTest

/// The head's state store (`head_state.sqlite` in its cluster folder): what `ray.kv` acknowledged
/// survives a head SIGKILLed and restarted at the same address; a clean stop leaves nothing behind.
final class HeadRecoveryTests: XCTestCase {
    var cluster: TestCluster?

    override func tearDown() async throws {
        if Ray.isInitialized { try? await ray.shutdown() }
        cluster?.shutdown()
    }

    func testAcknowledgedKeyValuesSurviveAHeadCrash() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try await Ray.start(address: cluster.address, token: cluster.token)
        for index in 0..<50 { _ = try await ray.kv.put("entry-\(index)", [UInt8(index)], namespace: "recovery") }
        _ = try await ray.kv.put("model", Array("weights-v2".utf8))
        _ = try await ray.kv.put("scratch", [9])
        _ = try await ray.kv.delete("scratch")
        _ = try await ray.kv.put("model", Array("weights-v1".utf8), overwrite: false)  // kept: no overwrite
        try await ray.shutdown()

        try cluster.restartHead()  // SIGKILL, then a new head on the same folder and address
        try await Ray.start(address: cluster.address, token: cluster.token)
        let model = try await ray.kv.get("model")
        XCTAssertEqual(model.map { String(decoding: $0, as: UTF8.self) }, "weights-v2")
        let scratch = try await ray.kv.get("scratch")
        XCTAssertNil(scratch, "a deleted key stays deleted")
        let keys = try await ray.kv.keys(namespace: "recovery")
        XCTAssertEqual(keys.count, 50)
        let last = try await ray.kv.get("entry-49", namespace: "recovery")
        XCTAssertEqual(last, [49])
        try await ray.shutdown()

        let store = "\(cluster.folders[0])/head_state.sqlite"
        XCTAssertTrue(FileManager.default.fileExists(atPath: store))
        _ = try cluster.run(["stop", "--temp-dir", cluster.folders[0]])
        XCTAssertFalse(FileManager.default.fileExists(atPath: store), "a clean stop removes the state store")
    }

    func testADriverWhoseHeadDoesNotComeBackFailsClearlyAndJoinsItOnceBack() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        setenv("SWIFTRAY_HEAD_RECONNECT_TIMEOUT_S", "3", 1)
        defer { unsetenv("SWIFTRAY_HEAD_RECONNECT_TIMEOUT_S") }
        try await Ray.start(address: cluster.address, token: cluster.token)
        let first = try await $square.remote(3).get()
        XCTAssertEqual(first, 9)
        _ = try await ray.kv.put("checkpoint", [7])

        try cluster.killHead()
        let started = ContinuousClock.now
        do {
            _ = try await $square.remote(4).get(timeout: .milliseconds(200))
            XCTFail("nothing answers while the head is away")
        } catch is GetTimeoutError {}  // the caller's timeout holds while the session waits
        do {
            _ = try await $square.remote(4).get(timeout: .seconds(60))
            XCTFail("no head took the session back")
        } catch let error as HeadConnectionLostError {
            XCTAssertEqual(error.head, cluster.address)
            XCTAssertEqual(error.waited, .seconds(3))
            XCTAssertTrue("\(error)".contains("within 3"), "\(error)")
            XCTAssertTrue("\(error)".contains("cannot be resumed"), "\(error)")
        }
        do {
            _ = try await ray.kv.get("checkpoint")
            XCTFail("the session ended")
        } catch is HeadConnectionLostError {}
        XCTAssertThrowsError(try ray.put(6), "a put has no head to keep it") { XCTAssertTrue($0 is HeadConnectionLostError, "\($0)") }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "a clear error once the wait is over, not a hang")

        try cluster.startHead()
        try await ray.shutdown()
        unsetenv("SWIFTRAY_HEAD_RECONNECT_TIMEOUT_S")  // the default wait, 60 s
        try await Ray.start(address: cluster.address, token: cluster.token)
        let again = try await $square.remote(5).get()
        XCTAssertEqual(again, 25)
        let kept = try await ray.kv.get("checkpoint")
        XCTAssertEqual(kept, [7], "what the old session stored is there for the new one")

        // A head stopped on purpose says so: its drivers do not wait for it.
        _ = try cluster.run(["stop", "--temp-dir", cluster.folders[0]])
        let stopped = ContinuousClock.now
        do {
            _ = try await $square.remote(6).get(timeout: .seconds(60))
            XCTFail("the head stopped")
        } catch let error as HeadConnectionLostError {
            XCTAssertNil(error.waited, "\(error)")
        }
        XCTAssertLessThan(ContinuousClock.now - stopped, .seconds(10))
    }

    /// A driver outlives its head's crash and carries on with the restarted head: the task running
    /// on a surviving node at the crash runs again (its worker went with the head), a finished result
    /// the node kept is adopted, not recomputed, and the lineage the driver hands back rebuilds a
    /// result whose node is lost later.
    func testADriverResumesItsSessionWithTheRestartedHead() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let daemon = try cluster.addNode(cpus: 2, resources: ["survivor": 2], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let count = 50_000  // 400 KB: the node's store
        let onNode: [String: Double] = ["survivor": 1]
        let read = $makeNumbers.options(resources: onNode).remote(count, 1)
        let readBefore = try await ray.get(read, timeout: .seconds(60))
        let unread = $makeNumbers.options(resources: onNode).remote(count, 2)
        let finished = try await ray.wait([unread], timeout: .seconds(60))
        XCTAssertEqual(finished.ready.count, 1)
        _ = try await ray.kv.put("checkpoint", [7])
        let running = $slowSquareWithNode.options(resources: onNode).remote(6, 1.5)
        let isRunning = try await RayTesting.eventually {
            try await ray.state.tasks().contains { $0.name.contains("slowSquareWithNode") && $0.state == .running }
        }
        XCTAssertTrue(isRunning)

        try cluster.restartHead()
        let restarted = ContinuousClock.now
        let sentWhileAway = $square.remote(7)  // kept until the head takes the session back
        let afterward = try await ray.get(sentWhileAway, timeout: .seconds(60))
        XCTAssertEqual(afterward, 49, "a task submitted while the head was away runs once it is back")
        let square = try await ray.get(running, timeout: .seconds(60))
        XCTAssertEqual(square.last, "36", "the task running at the crash finished on its node")
        XCTAssertLessThan(ContinuousClock.now - restarted, .seconds(30))
        let tasks = try await ray.state.tasks()
        XCTAssertFalse(tasks.contains { $0.name.contains("makeNumbers") }, "kept results are adopted, not computed again: \(tasks.map(\.name))")
        let readAfter = try await ray.get(read, timeout: .seconds(60))
        XCTAssertEqual(readAfter, readBefore)
        let kv = try await ray.kv.get("checkpoint")
        XCTAssertEqual(kv, [7])
        let fresh = try await $square.remote(5).get(timeout: .seconds(60))
        XCTAssertEqual(fresh, 25)
        let put = try ray.put(Array(repeating: 3.0, count: 10))
        let putBack = try await ray.get(put, timeout: .seconds(60))
        XCTAssertEqual(putBack.count, 10)

        // The node holding `unread` dies: the lineage handed back runs its task again elsewhere.
        kill(daemon, SIGKILL)
        try cluster.addNode(cpus: 1, resources: ["survivor": 2])
        let rebuilt = try await ray.get(unread, timeout: .seconds(60))
        XCTAssertEqual(rebuilt.count, count)
        XCTAssertEqual(rebuilt.first, 2)
        let reran = try await ray.state.tasks().filter { $0.name.contains("makeNumbers") }
        XCTAssertEqual(reran.count, 1, "rebuilt by running its task again")
    }

    /// Ray's raylets keep running tasks through a GCS restart: so do a surviving node's workers.
    /// Neither task may run twice (`maxRetries: 0`): one finishes while the head is away (its
    /// result waits in its worker), the other after the head is back; both answer the resumed
    /// driver, each having run once, in the process it started in.
    func testTasksRunningOnASurvivingNodeFinishOnceThroughAHeadCrash() async throws {
        let (cluster, folder) = try await survivorCluster()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let once = $loggedSquare.options(resources: ["survivor": 1], maxRetries: 0)
        let quick = once.remote(3, 1.0, folder)
        let slow = once.remote(6, 4.0, folder)
        let bothStarted = await RayTesting.eventually {
            FileManager.default.fileExists(atPath: "\(folder)/3.log") && FileManager.default.fileExists(atPath: "\(folder)/6.log")
        }
        XCTAssertTrue(bothStarted)

        try cluster.killHead()
        let quickDone = await RayTesting.eventually { FileManager.default.fileExists(atPath: "\(folder)/3.done") }
        XCTAssertTrue(quickDone, "the quick task finishes with its head away")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(folder)/6.done"), "the slow task is still running")
        try cluster.startHead()
        let quickResult = try await ray.get(quick, timeout: .seconds(60))
        let slowResult = try await ray.get(slow, timeout: .seconds(60))
        XCTAssertEqual(quickResult.last, "9")
        XCTAssertEqual(slowResult.last, "36")
        for (x, result) in [(3, quickResult), (6, slowResult)] {
            try assertRanOnce(in: "\(folder)/\(x).log", pid: result[0])
        }
        // What the quick task printed with its head away reached the restarted head.
        let printed = try cluster.run(["logs", "--pid", quickResult[0], "--address", cluster.address, "--token", cluster.token])
        XCTAssertTrue(printed.contains("task 3 finished in pid \(quickResult[0])"), printed)
        // The workers that outlived the head leave once they handed their results over; the node
        // runs new work as before.
        let fresh = try await once.remote(4, 0.0, folder).get(timeout: .seconds(60))
        XCTAssertEqual(fresh.last, "16")
        XCTAssertFalse([quickResult[0], slowResult[0]].contains(fresh[0]), "a worker whose pool the new head does not know takes no new tasks")
    }

    /// A task waiting for another it submitted keeps waiting through a head crash, as Ray's
    /// workers own what they submit: its worker hands the child's lineage back to the restarted
    /// head and asks for the child's result again. Here the child finished while the head was
    /// away (its result waited in its worker); neither task may run twice (`maxRetries: 0`).
    func testATaskWaitingForItsChildThroughAHeadCrashFinishesOnce() async throws {
        let (cluster, folder) = try await survivorCluster()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let parent = $loggedParent.options(resources: ["survivor": 1], maxRetries: 0).remote(5, 1.0, folder, "survivor", 0)
        let childStarted = await RayTesting.eventually { FileManager.default.fileExists(atPath: "\(folder)/5.log") }
        XCTAssertTrue(childStarted)
        try cluster.killHead()
        let childDone = await RayTesting.eventually { FileManager.default.fileExists(atPath: "\(folder)/5.done") }
        XCTAssertTrue(childDone, "the child finishes with the head away")
        try cluster.startHead()
        let result = try await parent.get(timeout: .seconds(60))
        XCTAssertEqual(result.last, "25")
        try assertRanOnce(in: "\(folder)/parent-5.log", pid: result[0])
        try assertRanOnce(in: "\(folder)/5.log", pid: result[1])
    }

    /// The child ran on the head's node, and died with it: the lineage the parent's worker hands
    /// back runs it again (it may retry), and the parent, still waiting, gets its result.
    func testATaskWaitingForAChildLostWithTheHeadGetsItRunAgain() async throws {
        let (result, folder) = try await parentThroughHeadRestart(7, parentRetries: 0, childRetries: 1)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertEqual(result.last, "49")
        try assertRanOnce(in: "\(folder)/parent-7.log", pid: result[0])
        try assertRanTwice(in: "\(folder)/7.log", lastPID: result[1])
    }

    /// The child died with the head and may not run again (`maxRetries: 0`): the parent's wait
    /// cannot be answered, which is the crash's doing, so the parent's worker exits and the parent
    /// is retried as after any worker's death (it may: `maxRetries: 1`), with a new child.
    func testATaskWhoseChildIsLostForGoodWithTheHeadIsRetried() async throws {
        let (result, folder) = try await parentThroughHeadRestart(8, parentRetries: 1, childRetries: 0)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        XCTAssertEqual(result.last, "64")
        try assertRanTwice(in: "\(folder)/parent-8.log", lastPID: result[0])
    }

    /// A parent on the surviving node waiting for its 2 s child `x` on the head's node: the head
    /// is restarted once the child runs. Returns what the parent answered, and the scratch folder.
    private func parentThroughHeadRestart(_ x: Int, parentRetries: Int, childRetries: Int) async throws -> ([String], String) {
        let (cluster, folder) = try await survivorCluster(headResources: ["headonly": 1])
        let parent = $loggedParent.options(resources: ["survivor": 1], maxRetries: parentRetries).remote(x, 2.0, folder, "headonly", childRetries)
        let childStarted = await RayTesting.eventually { FileManager.default.fileExists(atPath: "\(folder)/\(x).log") }
        XCTAssertTrue(childStarted)
        try cluster.restartHead()
        return (try await parent.get(timeout: .seconds(60)), folder)
    }

    private func assertRanTwice(in log: String, lastPID pid: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let runs = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(runs.count, 2, "ran again once: \(runs) (\(log))", file: file, line: line)
        XCTAssertEqual(runs.last.map(String.init), "started \(pid)", "the last run answered", file: file, line: line)
    }

    /// A cluster whose head has 1 CPU and a node with 2 CPUs and 2 of `survivor` that waits 60 s
    /// for a restarted head, a driver connected; and a scratch folder.
    private func survivorCluster(headResources: [String: Double] = [:]) async throws -> (TestCluster, String) {
        let cluster = try TestCluster(cpus: 1, resources: headResources)
        self.cluster = cluster
        try cluster.addNode(cpus: 2, resources: ["survivor": 2], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let folder = NSTemporaryDirectory() + "survivors-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return (cluster, folder)
    }

    private func assertRanOnce(in log: String, pid: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertEqual(text, "started \(pid)\n", "ran once, in the process that answered (\(log))", file: file, line: line)
    }

    func testDetachedActorsWithRestartsLeftComeBackUnderTheirNamesAfterAHeadCrash() async throws {
        let cluster = try TestCluster(cpus: 3)
        self.cluster = cluster
        try await Ray.start(address: cluster.address, token: cluster.token)
        let keeper = try await ray.actor(Counter.self, options: ActorOptions(maxRestarts: 5, name: "keeper", lifetime: .detached))
        let fragile = try await ray.actor(Counter.self, options: ActorOptions(name: "fragile", lifetime: .detached))
        let owned = try await ray.actor(Counter.self, options: ActorOptions(maxRestarts: 5, name: "owned"))
        _ = try await [keeper.add(41), fragile.increment(), owned.increment()]
        try await ray.shutdown()

        try cluster.restartHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let found = try await ray.getActor(Counter.self, name: "keeper")
        let first = try await found.getValue()
        XCTAssertEqual(first, 0, "restarted from its constructor: its process went with the old head")
        let next = try await found.increment()
        XCTAssertEqual(next, 1)
        for name in ["fragile", "owned"] {
            do {
                _ = try await ray.getActor(Counter.self, name: name)
                XCTFail("\(name) must not come back: no restarts left, or not detached")
            } catch is RaySystemError {}
        }
        let states = try await ray.state.actors().filter { $0.name == "keeper" }
        XCTAssertEqual(states.map(\.restarts), [1], "coming back counts as a restart")

        // Restarted again, it is still there (its record carries the restart count).
        try await ray.shutdown()
        try cluster.restartHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let again = try await ray.getActor(Counter.self, name: "keeper")
        let value = try await again.increment()
        XCTAssertEqual(value, 1)
        let restarted = try await ray.state.actors().filter { $0.name == "keeper" }
        XCTAssertEqual(restarted.map(\.restarts), [2])
        // Killed for good, it is forgotten: a third head does not bring it back.
        try ray.kill(again)
        let gone = await RayTesting.eventually { ((try? await ray.getActor(Counter.self, name: "keeper")) == nil) }
        XCTAssertTrue(gone)
        // The store writes in order and answers a put once written: past this, the death is on disk.
        _ = try await ray.kv.put("barrier", [1])
        try await ray.shutdown()
        try cluster.restartHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        do {
            _ = try await ray.getActor(Counter.self, name: "keeper")
            XCTFail("a killed actor stays dead")
        } catch is RaySystemError {}
    }

    func testADetachedActorOnASurvivingNodeKeepsItsProcessAndStateThroughAHeadCrash() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["survivor": 2], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        // No restarts allowed: only re-attaching its process can bring it back.
        let options = ActorOptions(resources: ["survivor": 1], name: "survivor", lifetime: .detached)
        let counter = try await ray.actor(Counter.self, options: options)
        let before = try await counter.add(41)
        XCTAssertEqual(before, 41)
        let placed = try await ray.state.actors().first { $0.name == "survivor" }
        let pid = try XCTUnwrap(placed?.pid)
        try await ray.shutdown()

        for round in 1...2 {
            try cluster.restartHead()
            try await Ray.start(address: cluster.address, token: cluster.token)
            let found = try await ray.getActor(Counter.self, name: "survivor")
            let value = try await found.increment()
            XCTAssertEqual(value, 41 + round, "its state outlived head crash \(round)")
            let state = try await ray.state.actors().first { $0.name == "survivor" }
            XCTAssertEqual(state?.pid, pid, "the same process")
            XCTAssertEqual(state?.restarts, 0, "re-attached, not restarted")
            XCTAssertEqual(state?.nodeID, placed?.nodeID, "its node kept its id")
            try await ray.shutdown()
        }
        // New work still runs on the node, beside the actor (worker ids do not clash).
        try await Ray.start(address: cluster.address, token: cluster.token)
        let node = try await ray.get($whereAmI.options(resources: ["survivor": 0.001]).remote(), timeout: .seconds(60))
        XCTAssertEqual(node, placed?.nodeID)
    }

    /// As with Ray's GCS fault tolerance, a driver's own (not detached) actor on a surviving node
    /// keeps its process and state through a head crash; the resumed driver owns it again, so it
    /// still ends with its driver.
    func testADriversActorOnASurvivingNodeKeepsItsStateThroughAHeadCrash() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["survivor": 2], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let counter = try await ray.actor(Counter.self, options: ActorOptions(resources: ["survivor": 1], name: "owned"))
        let before = try await counter.add(41)
        XCTAssertEqual(before, 41)
        let placed = try await ray.state.actors().first { $0.name == "owned" }
        let pid = try XCTUnwrap(placed?.pid)

        try cluster.restartHead()
        let value = try await counter.increment()  // kept while the head is away, sent once it is back
        XCTAssertEqual(value, 42, "its state outlived the head")
        let found = try await ray.getActor(Counter.self, name: "owned")
        let again = try await found.increment()
        XCTAssertEqual(again, 43, "reachable under its name")
        let state = try await ray.state.actors().first { $0.name == "owned" }
        XCTAssertEqual(state?.pid, pid, "the same process")
        XCTAssertEqual(state?.restarts, 0, "re-attached, not restarted")

        // Its driver leaves: it goes with it, as before the crash.
        try await ray.shutdown()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let ended = await RayTesting.eventually {
            (try? await ray.state.actors().first { $0.name == "owned" }?.state == .dead) ?? false
        }
        XCTAssertTrue(ended, "the resumed driver owns it again")
    }

    func testObjectsAReattachedActorHoldsOnItsNodeAreAdoptedByTheRestartedHead() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        let daemon = try cluster.addNode(cpus: 1, resources: ["survivor": 2], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let options = ActorOptions(resources: ["survivor": 1], name: "keeper", lifetime: .detached)
        let keeper = try await ray.actor(ObjectKeeper.self, options: options)
        let count = 50_000  // 400 KB: the node's store
        try await keeper.keep(count: count)
        let expected = (0..<count).reduce(0, +)
        let stored = try await ray.state.objects().first { $0.location == "remote" }
        let objectID = try XCTUnwrap(stored?.objectID, "the large object is in the node's store")
        let placed = try await ray.state.actors().first { $0.name == "keeper" }
        let actorPID = try XCTUnwrap(placed?.pid)
        let placedOn = placed?.nodeID
        let file = "/dev/shm/swiftray-node-\(daemon)/\(objectID)"
        // A result only the driver holds: gone with it, freed once the restarted head's grace ends.
        let orphan = $makeNumbers.options(resources: ["survivor": 1]).remote(count, 0)
        _ = try await ray.get(orphan, timeout: .seconds(60))
        let results = try await ray.state.objects().first { $0.objectID != objectID && $0.nodes.contains(placedOn ?? "") }
        let orphanID = try XCTUnwrap(results?.objectID)
        let orphanFile = "/dev/shm/swiftray-node-\(daemon)/\(orphanID)"
        try await ray.shutdown()

        try cluster.restartHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let found = try await ray.getActor(ObjectKeeper.self, name: "keeper")
        let sum = try await found.largeSum()
        XCTAssertEqual(sum, expected, "the object in the node's store outlived the head")
        let adopted = try await ray.state.objects().first { $0.objectID == objectID }
        XCTAssertEqual(adopted?.location, "remote")
        XCTAssertEqual(adopted?.nodes, placedOn.map { [$0] })
        let heldByActor = try await RayTesting.eventually {  // once the adoption's grace is over
            try await ray.state.objects().first { $0.objectID == objectID }?.holderPIDs == [actorPID]
        }
        XCTAssertTrue(heldByActor, "held by the re-attached actor's process alone")
        let orphanFreed = try await RayTesting.eventually {
            try await ray.state.objects().allSatisfy { $0.objectID != orphanID }
        }
        XCTAssertTrue(orphanFreed, "an object nobody re-registered is freed")
        do {
            _ = try await found.smallValue()
            XCTFail("a small object lived only in the old head")
        } catch {
            XCTAssertTrue("\(error)".contains("not in the cluster"), "\(error)")
        }
        // A driver reads it through a ref the actor hands out (copied to the head's store).
        do {
            let handedOut = try await found.largeRef()
            let values = try await ray.get(try XCTUnwrap(handedOut), timeout: .seconds(60))
            XCTAssertEqual(values.count, count)
        }
        // Once nobody holds it, it is freed, on the node too.
        try await found.forget()
        let freed = try await RayTesting.eventually {
            try await ray.state.objects().allSatisfy { $0.objectID != objectID }
        }
        XCTAssertTrue(freed, "freed once the actor and the driver dropped it")
        if FileManager.default.fileExists(atPath: "/dev/shm") {
            for path in [file, orphanFile] {
                let removed = await RayTesting.eventually { !FileManager.default.fileExists(atPath: path) }
                XCTAssertTrue(removed, "\(path) removed from the node's store")
            }
        }
    }

    /// An object kept in a surviving node's store keeps the objects it refers to through a head
    /// crash: the refs inside it lived only in the head's record of it, and are in its state store.
    func testRefsInsideAnObjectKeptOnASurvivingNodeKeepTheirObjectsThroughAHeadCrash() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try await HeadRecoveryChecks.refsInsideKeptObjectsSurvive(cluster)
    }

    func testADetachedActorWhoseProcessDiedWithTheHeadAwayRestartsOnItsNode() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["survivor": 1], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let options = ActorOptions(resources: ["survivor": 1], maxRestarts: 1, name: "lost", lifetime: .detached)
        let counter = try await ray.actor(Counter.self, options: options)
        _ = try await counter.add(5)
        let placed = try await ray.state.actors().first { $0.name == "lost" }
        let pid = try XCTUnwrap(placed?.pid)
        try await ray.shutdown()

        try cluster.killHead()
        kill(pid, SIGKILL)  // its process dies while no head is there to hear of it
        try cluster.startHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let found = try await ray.getActor(Counter.self, name: "lost")
        let value = try await found.getValue()
        XCTAssertEqual(value, 0, "no process re-attached it within the grace: restarted from its constructor")
        let state = try await ray.state.actors().first { $0.name == "lost" }
        XCTAssertEqual(state?.restarts, 1)
        XCTAssertNotEqual(state?.pid, pid)
    }

    func testADetachedPlacementGroupIsReservedAgainAfterAHeadCrash() async throws {
        let cluster = try TestCluster(cpus: 3)
        self.cluster = cluster
        try await Ray.start(address: cluster.address, token: cluster.token)
        let kept = try await ray.placementGroup(bundles: [["CPU": 1], ["CPU": 0.5]], name: "kept", lifetime: .detached)
        try await kept.ready(timeout: .seconds(30))
        let passing = try await ray.placementGroup(bundles: [["CPU": 1]], name: "passing")
        try await passing.ready(timeout: .seconds(30))
        let removed = try await ray.placementGroup(bundles: [["CPU": 0.5]], name: "removed", lifetime: .detached)
        try await ray.removePlacementGroup(removed)
        _ = try await ray.kv.put("barrier", [1])  // the store writes in order: the removal is on disk
        try await ray.shutdown()

        try cluster.restartHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let found = try await ray.getPlacementGroup(name: "kept")
        XCTAssertEqual(found, kept)
        try await found.ready(timeout: .seconds(30))
        let inside = try await ray.get($square.options(schedulingStrategy: .placementGroup(found, bundleIndex: 0)).remote(6), timeout: .seconds(30))
        XCTAssertEqual(inside, 36)
        for name in ["passing", "removed"] {
            do {
                _ = try await ray.getPlacementGroup(name: name)
                XCTFail("\(name) must not come back: not detached, or removed")
            } catch is RaySystemError {}
        }
        let held = try await RayTesting.eventually {
            try await ray.state.nodes().first?.available["CPU"] == 1.5
        }
        XCTAssertTrue(held, "the restored group holds its 1.5 CPUs of the node's 3")
    }

    /// An actor owns what its calls submitted, as a driver does: re-attached to a restarted head,
    /// its host hands that lineage back, so a result whose node dies afterwards is rebuilt.
    func testAReattachedActorHandsBackTheLineageOfWhatItSubmitted() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 1, resources: ["survivor": 2], arguments: ["--head-reconnect-timeout", "60"])
        let doomed = try cluster.addNode(cpus: 1, resources: ["elsewhere": 2], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let options = ActorOptions(resources: ["survivor": 1], name: "owner", lifetime: .detached)
        let owner = try await ray.actor(ObjectKeeper.self, options: options)
        let count = 50_000  // 400 KB: the other node's store
        try await owner.compute(count: count, on: "elsewhere")
        let expected = Double(count) * 5 + Double((0..<count).reduce(0, +))
        let finished = try await owner.computedReady()
        XCTAssertTrue(finished)
        try await ray.shutdown()

        try cluster.restartHead()
        try await Ray.start(address: cluster.address, token: cluster.token)
        let found = try await ray.getActor(ObjectKeeper.self, name: "owner")
        let adopted = try await RayTesting.eventually {
            try await ray.state.objects().contains { $0.location == "remote" && $0.nodes.count == 1 && !$0.holderPIDs.isEmpty }
        }
        XCTAssertTrue(adopted, "the result, held by the actor, is adopted from the other node's store only")
        kill(doomed, SIGKILL)
        try cluster.addNode(cpus: 1, resources: ["elsewhere": 2])
        let rebuilt = try await found.computedSum()
        XCTAssertEqual(rebuilt, expected, "rebuilt from the lineage the actor handed back")
        let ran = try await ray.state.tasks().filter { $0.name.contains("makeNumbers") }
        XCTAssertEqual(ran.count, 1, "run again once, after its node died")
    }

    /// A driver that stays connected through a head crash keeps its placement groups, detached
    /// or not (as with Ray's GCS fault tolerance): it hands them back as it resumes.
    func testAResumedDriversPlacementGroupIsReservedAgain() async throws {
        let cluster = try TestCluster(cpus: 3)
        self.cluster = cluster
        try await Ray.start(address: cluster.address, token: cluster.token)
        let mine = try await ray.placementGroup(bundles: [["CPU": 1]], name: "mine")
        try await mine.ready(timeout: .seconds(30))

        try cluster.restartHead()
        let inside = $square.options(schedulingStrategy: .placementGroup(mine, bundleIndex: 0))
        let value = try await ray.get(inside.remote(6), timeout: .seconds(60))
        XCTAssertEqual(value, 36)
        let found = try await ray.getPlacementGroup(name: "mine")
        XCTAssertEqual(found, mine)
        let held = try await RayTesting.eventually { try await ray.state.nodes().first?.available["CPU"] == 2 }
        XCTAssertTrue(held, "the group holds its CPU again")
        try await ray.removePlacementGroup(mine)
        let freed = try await RayTesting.eventually { try await ray.state.nodes().first?.available["CPU"] == 3 }
        XCTAssertTrue(freed)
    }

    func testPlacementGroupsKeepTheirNodesAroundActorsThatOutlivedTheHead() async throws {
        let cluster = try TestCluster(cpus: 1)
        self.cluster = cluster
        try cluster.addNode(cpus: 3, arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let nodes = try await ray.state.nodes()
        let workerNode = try XCTUnwrap(nodes.first { !$0.isHead }?.nodeID)
        // The head's CPU taken first, so both groups go on the worker node.
        let blocker = try await ray.placementGroup(bundles: [["CPU": 1]])
        try await blocker.ready(timeout: .seconds(30))
        let detached = try await ray.placementGroup(bundles: [["CPU": 1]], name: "kept", lifetime: .detached)
        let owned = try await ray.placementGroup(bundles: [["CPU": 1]], name: "owned")
        try await detached.ready(timeout: .seconds(30))
        try await owned.ready(timeout: .seconds(30))
        try await ray.removePlacementGroup(blocker)
        func inGroup(_ group: PlacementGroup, name: String, lifetime: ActorLifetime?) -> ActorOptions {
            ActorOptions(numCPUs: 1, name: name, lifetime: lifetime, schedulingStrategy: .placementGroup(group, bundleIndex: 0))
        }
        let keeper = try await ray.actor(Counter.self, options: inGroup(detached, name: "pinned", lifetime: .detached))
        let own = try await ray.actor(Counter.self, options: inGroup(owned, name: "mine", lifetime: nil))
        _ = try await keeper.add(10)
        _ = try await own.add(20)
        let placed = try await ray.state.placementGroups().filter { $0.state == "CREATED" }.map(\.bundleNodes)
        XCTAssertEqual(placed, [[workerNode], [workerNode]], "set up: both groups on the worker node")

        try cluster.restartHead()
        let kept = try await keeper.increment()
        let mine = try await own.increment()
        XCTAssertEqual([kept, mine], [11, 21], "both actors kept their state")
        let settled = try await RayTesting.eventually {
            let groups = try await ray.state.placementGroups().filter { $0.state == "CREATED" }
            let nodes = try await ray.state.nodes()
            return groups.count == 2 && groups.allSatisfy { $0.bundleNodes == [workerNode] }
                && nodes.first { $0.nodeID == workerNode }?.available["CPU"] == 1 && nodes.first(where: \.isHead)?.available["CPU"] == 1
        }
        let groups = try await ray.state.placementGroups().map { "\($0.name) \($0.state) \($0.bundleNodes)" }
        let free = try await ray.state.nodes().map { "\($0.nodeID) \($0.available["CPU"] ?? 0)" }
        XCTAssertTrue(settled, "each group back on its actor's node, its CPU counted once: \(groups), free \(free)")
        try ray.kill(keeper)
    }

    func testAnUnusableStateStoreIsReportedAndTheHeadRunsWithout() async throws {
        let folder = NSTemporaryDirectory() + "swiftray-bad-store-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let garbage = "\(folder)/state.sqlite"
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: garbage))
        let cluster = try TestCluster(cpus: 1, headArguments: ["--state-store", garbage])
        self.cluster = cluster
        try await Ray.start(address: cluster.address, token: cluster.token)
        _ = try await ray.kv.put("still", [1])
        let value = try await ray.kv.get("still")
        XCTAssertEqual(value, [1], "the head serves without its store")
    }
}

/// Checks shared by the head's state stores (SQLite and PostgreSQL).
enum HeadRecoveryChecks {
    /// A driver holds a value kept in a surviving node's store that refers to another value kept
    /// there; the head crashes and restarts; after the restarted head's adoption grace both are
    /// still there, the inner one pinned by the outer, and read back; both are freed with the ref.
    static func refsInsideKeptObjectsSurvive(_ cluster: TestCluster) async throws {
        try cluster.addNode(cpus: 1, resources: ["survivor": 1], arguments: ["--head-reconnect-timeout", "60"])
        try await Ray.start(address: cluster.address, token: cluster.token)
        let count = 50_000  // 400 KB each: the node's store
        do {
            let outer = $wrapNumbersHere.options(resources: ["survivor": 1]).remote(count)
            let finished = try await ray.wait([outer], timeout: .seconds(60))
            XCTAssertEqual(finished.ready.count, 1)
            let kept = try await ray.state.objects().filter { $0.location == "remote" }
            XCTAssertEqual(kept.count, 2, "both values are in the node's store: \(kept)")
            let innerID = try XCTUnwrap(kept.first { $0.objectID != "\(outer.id)" }?.objectID)

            try cluster.restartHead()
            // Read nothing until the restarted head's adoption grace is over: only the driver's
            // ref to the outer value (and what that value holds) keeps anything then.
            let settled = try await RayTesting.eventually(timeout: .seconds(60)) {
                try await ray.state.objects().first { $0.objectID == "\(outer.id)" }?.holders == 1
            }
            XCTAssertTrue(settled, "the outer value is held by the resumed driver alone")
            let inner = try await ray.state.objects().first { $0.objectID == innerID }
            XCTAssertEqual(inner?.pins, 1, "the value it refers to is kept by it")
            let wrapped = try await ray.get(outer, timeout: .seconds(60))
            let numbers = try await ray.get(wrapped.numbers, timeout: .seconds(60))
            XCTAssertEqual(numbers.count, count)
            XCTAssertEqual(numbers.last, Double(count - 1))
        }
        // Once the driver drops its refs, both are freed.
        let freed = try await RayTesting.eventually(timeout: .seconds(60)) {
            try await ray.state.objects().allSatisfy { $0.location != "remote" }
        }
        let left = try await ray.state.objects().filter { $0.location == "remote" }
        XCTAssertTrue(freed, "still kept: \(left)")
    }
}
