import NIOCore
import NIOEmbedded
import RayWire
import XCTest

final class FrameCodecTests: XCTestCase {
    let spec = TaskSpec(
        taskID: RayID(high: 1, low: 2), functionID: "$s4main7square", name: "square",
        args: [.value(EncodedValue(bytes: [1, 2, 3], refs: [RayID(high: 7, low: 7)])), .ref(RayID(high: 3, low: 4))], resources: ["CPU": 1, "GPU": 0.5],
        maxRetries: 3, retryExceptions: true, parentTaskID: RayID(high: 5, low: 6), attempt: 2)

    var multiReturnSpec: TaskSpec {
        var multi = spec
        multi.extraReturns = [RayID(high: 4, low: 4), RayID(high: 4, low: 5)]
        multi.environment = ["MODE": "blue"]
        return multi
    }

    func streaming(_ backpressure: Int?) -> TaskSpec {
        var streaming = spec
        streaming.streaming = StreamingReturns(backpressure: backpressure)
        return streaming
    }

    var streamingCall: ActorCall {
        var call = ActorCall(callID: RayID(high: 6, low: 1), actorID: RayID(high: 6, low: 2), dispatch: .method, method: "m()", name: "A.m", args: [])
        call.streaming = StreamingReturns(backpressure: 8)
        call.extraReturns = [RayID(high: 6, low: 3)]
        return call
    }

    var restartedActor: ActorSpec {
        var actor = ActorSpec(
            actorID: RayID(high: 9, low: 9), typeID: "T", className: "Counter", initializer: "init()", args: [], resources: ["CPU": 1],
            maxRestarts: -1, maxTaskRetries: 2, maxConcurrency: 4, name: "c", namespace: "ns", detached: true, strategy: .spread)
        actor.restarts = 3
        actor.environment = ["A": "1", "B": ""]
        return actor
    }

    var allMessages: [WireMessage] {
        [
            .register(pid: 42),
            .taskDone(RayID(high: 1, low: 1), .value(EncodedValue(bytes: [9]))),
            .taskDone(RayID(high: 1, low: 1), .error(ErrorInfo(kind: .taskError, errorType: "Boom", message: "m", functionName: "f", nodeID: "n", pid: 7))),
            .submit(spec), .execute(spec), .submit(multiReturnSpec),
            .get(requestID: 9, caller: .none, ids: [RayID(high: 1, low: 2)], timeoutMillis: -1),
            .wait(requestID: 10, caller: RayID(high: 1, low: 1), ids: [], numReturns: 0, timeoutMillis: 5),
            .put(RayID(high: 8, low: 8), .value(EncodedValue(bytes: []))),
            .addRefs([RayID(high: 1, low: 9)]), .releaseRefs([]),
            .cancel(RayID(high: 2, low: 2), force: true, recursive: false),
            .getReply(requestID: 9, results: nil),
            .getReply(requestID: 9, results: [.value(EncodedValue(bytes: [1])), .error(ErrorInfo(kind: .cancelled, message: "c"))]),
            .waitReply(requestID: 10, ready: [0, 3]),
            .shutdown,
            .hostActor(restartedActor),
            .taskReturns(RayID(high: 1, low: 2), [.value(EncodedValue(bytes: [1])), .error(ErrorInfo(kind: .cancelled, message: "c"))]),
            .submit(streaming(nil)), .submit(streaming(3)), .actorCall(streamingCall),
            .yieldItem(stream: RayID(high: 1, low: 2), index: 300, item: RayID(high: 3, low: 3), .value(EncodedValue(bytes: [5])), wantsAck: true),
            .nextItems(requestID: 11, caller: .none, stream: RayID(high: 1, low: 2), from: 70_000),
            .dropStream(RayID(high: 1, low: 2), received: 4),
            .streamItems(requestID: 11, StreamItems(items: [RayID(high: 3, low: 3)], finished: false)),
            .streamItems(requestID: 12, StreamItems(items: [], finished: true)),
            .streamProgress(RayID(high: 1, low: 2), consumed: 12, stop: true),
        ]
    }

    func makeChannel(maxFrameSize: Int = Frame.defaultMaxSize) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WireMessageDecoder(maxFrameSize: maxFrameSize)))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(WireMessageEncoder()))
        return channel
    }

    func testEveryMessageRoundTripsThroughFrames() throws {
        let channel = try makeChannel()
        var stream = ByteBuffer()
        for message in allMessages { var frame = message.framed(); stream.writeBuffer(&frame) }
        // Deliver the stream one byte at a time: frames reassemble.
        while stream.readableBytes > 0 {
            try channel.writeInbound(stream.readSlice(length: 1)!)
        }
        var received: [WireMessage] = []
        while let message = try channel.readInbound(as: WireMessage.self) { received.append(message) }
        XCTAssertEqual(received, allMessages)
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testOversizedFrameIsRejected() throws {
        let channel = try makeChannel(maxFrameSize: 64)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1000))
        XCTAssertThrowsError(try channel.writeInbound(buffer)) { error in
            XCTAssertEqual(error as? WireError, .frameTooLarge(1000, limit: 64))
        }
    }

    func testGarbageFramesAreRejected() throws {
        func reject(_ bytes: [UInt8]) throws {
            let channel = try makeChannel()
            XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(bytes: bytes)), "\(bytes)")
        }
        try reject([0, 0, 0, 2, 9, 1])                 // wrong version
        try reject([0, 0, 0, 2, 1, 99])                // unknown type
        try reject([0, 0, 0, 3, 1, 23, 0])             // trailing byte after shutdown
        try reject([0, 0, 0, 3, 1, 1, 0])              // truncated register
        try reject([0, 0, 0, 1, 1])                    // no type byte
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let channel = try makeChannel(maxFrameSize: 1 << 16)
            let length = Int.random(in: 2..<64, using: &random)
            var bytes: [UInt8] = [0, 0, 0, UInt8(length), 1, UInt8.random(in: 1...23, using: &random)]
            bytes += (0..<(length - 2)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))  // must not crash
        }
    }

    func testCoalescingWriterSendsABurstAsOneBuffer() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(CoalescingFrameWriter())
        var written: [EventLoopFuture<Void>] = []
        for message in allMessages {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            channel.write(message, promise: promise)
            written.append(promise.futureResult)
        }
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "nothing leaves before the flush")
        channel.flush()
        var stream = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "one buffer for the burst")
        for future in written { XCTAssertNoThrow(try future.wait()) }
        var expected = ByteBuffer()
        for message in allMessages { var frame = message.framed(); expected.writeBuffer(&frame) }
        XCTAssertEqual(stream, expected)
        let decoder = try makeChannel()
        try decoder.writeInbound(stream.readSlice(length: stream.readableBytes)!)
        var received: [WireMessage] = []
        while let message = try decoder.readInbound(as: WireMessage.self) { received.append(message) }
        XCTAssertEqual(received, allMessages)
        XCTAssertTrue(try channel.finish().isClean)
    }

    func testCoalescingWriterFailsPendingWritesWhenRemoved() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(CoalescingFrameWriter())
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.write(WireMessage.shutdown, promise: promise)
        _ = try channel.finish()
        XCTAssertThrowsError(try promise.futureResult.wait())
    }

    func testCoalescingWriterKeepsOrderAcrossDirectAndPipelineWrites() throws {
        let channel = EmbeddedChannel()
        let writer = CoalescingFrameWriter()
        try channel.pipeline.syncOperations.addHandler(writer)
        for (index, message) in allMessages.enumerated() {
            if index % 2 == 0 { XCTAssertTrue(writer.enqueue(message)) } else { channel.write(message, promise: nil) }
        }
        channel.flush()
        var stream = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        let decoder = try makeChannel()
        try decoder.writeInbound(stream.readSlice(length: stream.readableBytes)!)
        var received: [WireMessage] = []
        while let message = try decoder.readInbound(as: WireMessage.self) { received.append(message) }
        XCTAssertEqual(received, allMessages)
        _ = try channel.finish()
        XCTAssertFalse(writer.enqueue(.shutdown), "a writer out of its pipeline takes nothing")
    }
}
