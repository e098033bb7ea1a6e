import RayNode
import RayNodeTesting
import RayWire
import XCTest

/// Streams as a component (`StreamTable`) and through the node manager: items in order, batches,
/// duplicates from retries, the end, drops, and acknowledgements to the producer.
final class StreamTableTests: XCTestCase {
    private let stream = RayID(high: 5, low: 1)
    private func item(_ n: UInt64) -> ObjectID { RayID(high: 6, low: n) }

    func testItemsGoOutInOrderOnceEachThenTheEnd() {
        var table = StreamTable()
        table.open(stream, ownerID: 0, backpressure: nil)
        XCTAssertNil(table.take(stream), "nothing yet: the consumer waits")
        XCTAssertEqual(table.yielded(stream, index: 0, item: item(0), producerID: 1), .stored(ownerID: 0, newProducer: true))
        XCTAssertEqual(table.yielded(stream, index: 1, item: item(1), producerID: 1), .stored(ownerID: 0, newProducer: false))
        XCTAssertEqual(table.take(stream), StreamItems(items: [item(0), item(1)], finished: false))
        XCTAssertNil(table.take(stream), "handed out once")
        XCTAssertEqual(table.yielded(stream, index: 2, item: item(2), producerID: 1), .stored(ownerID: 0, newProducer: false))
        table.finish(stream)
        XCTAssertEqual(table.take(stream), StreamItems(items: [item(2)], finished: true), "the last items say the end came")
        XCTAssertEqual(table.take(stream), StreamItems(items: [], finished: true))
        XCTAssertEqual(table.take(RayID(high: 9, low: 9)), StreamItems(items: [], finished: true), "an unknown stream has ended")
    }

    func testARetriedProducersRepeatsAreDroppedAndItHearsTheProgress() {
        var table = StreamTable()
        table.open(stream, ownerID: 3, backpressure: 2)
        for n in 0..<3 { _ = table.yielded(stream, index: n, item: item(UInt64(n)), producerID: 1) }
        _ = table.take(stream)
        XCTAssertTrue(table.consumed(stream, upTo: 2), "backpressure: the producer waits for this")
        // The retry starts over on worker 2.
        XCTAssertEqual(table.yielded(stream, index: 0, item: item(10), producerID: 2), .duplicate)
        XCTAssertEqual(table.yielded(stream, index: 2, item: item(12), producerID: 2), .duplicate)
        XCTAssertEqual(table.yielded(stream, index: 3, item: item(13), producerID: 2), .stored(ownerID: 3, newProducer: false))
        XCTAssertEqual(table.take(stream)?.items, [item(13)])
        XCTAssertEqual(table[stream]?.consumed, 2)
    }

    func testBatchesAreBounded() {
        var table = StreamTable()
        table.open(stream, ownerID: 0, backpressure: nil)
        for n in 0..<5000 { _ = table.yielded(stream, index: n, item: item(UInt64(n)), producerID: 1) }
        XCTAssertEqual(table.take(stream)?.items.count, 4096)
        XCTAssertEqual(table.take(stream)?.items.count, 904)
    }

    func testADropReturnsWhatTheConsumerNeverWrapped() throws {
        var table = StreamTable()
        table.open(stream, ownerID: 4, backpressure: nil)
        for n in 0..<4 { _ = table.yielded(stream, index: n, item: item(UInt64(n)), producerID: 1) }
        _ = table.take(stream)
        let dropped = try XCTUnwrap(table.drop(stream, received: 1))
        XCTAssertEqual(dropped.unreceived, [item(1), item(2), item(3)])
        XCTAssertEqual(table.yielded(stream, index: 4, item: item(4), producerID: 1), .unwanted, "later items have nobody to go to")
        XCTAssertEqual(table.count, 0)
    }

    func testTheNodeServesAStreamAndStopsItsProducerOnDrop() throws {
        let node = NodeHarness(cpus: 1, prestart: 1)
        node.registerNew()
        var spec = node.task("gen")
        spec.streaming = StreamingReturns(backpressure: nil)
        node.submit(spec)
        var producer: InProcessWorkers.Worker?
        node.serve { worker, _ in
            producer = worker
            return nil  // it keeps running, yielding
        }
        let worker = try XCTUnwrap(producer)
        var replies: [StreamItems] = []
        node.manager.nextItemsOnLoop(spec.taskID, from: 0, caller: .none) { replies.append($0) }
        node.loop.run()
        XCTAssertTrue(replies.isEmpty, "the consumer waits for the first item")
        for n in 0..<3 {
            worker.send(.yieldItem(stream: spec.taskID, index: n, item: item(UInt64(n)), .value(EncodedValue(bytes: [UInt8(n)])), wantsAck: n == 2))
        }
        node.loop.run()
        XCTAssertEqual(replies, [StreamItems(items: [item(0)], finished: false)], "the waiting consumer got the first item at once")
        XCTAssertEqual(node.results([item(1), item(2)]), [.value(EncodedValue(bytes: [1])), .value(EncodedValue(bytes: [2]))])
        XCTAssertTrue(worker.received().contains(.streamProgress(spec.taskID, consumed: 0, stop: false)), "the asked-for acknowledgement")
        node.manager.dropStreamOnLoop(spec.taskID, received: 1, holder: nil)
        node.loop.run()
        let told = worker.received()
        XCTAssertTrue(told.contains(.cancel(spec.taskID, force: false, recursive: true)), "\(told)")
        XCTAssertTrue(told.contains(.streamProgress(spec.taskID, consumed: 0, stop: true)), "\(told)")
        guard case .error(let lost)? = node.results([item(1)])?.first else { return XCTFail("item 1 should be freed") }
        XCTAssertEqual(lost.kind, .objectLost, "items the consumer never wrapped are freed")
        XCTAssertEqual(node.results([item(0)]), [.value(EncodedValue(bytes: [0]))], "the one it took lives on")
    }
}
