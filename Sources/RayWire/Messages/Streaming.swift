import NIOCore

/// A task or actor call whose result is a stream of items (Ray's `num_returns="streaming"`): each
/// item becomes its own object as the producer yields it, and the call's own result object, the
/// stream's end, holds the item count or the error that ended it.
public struct StreamingReturns: Sendable, Equatable {
    /// How many items the producer may have yielded that its consumer has not taken before it
    /// pauses (Ray's `_generator_backpressure_num_objects`); nil: it never pauses.
    public var backpressure: Int?

    public init(backpressure: Int? = nil) {
        self.backpressure = backpressure.map { max($0, 1) }
    }
}

/// What a consumer's request for the next items of a stream gets: the items produced since, in
/// order (each counted as held by the consumer), and whether the stream has ended (its end object
/// is ready) once these are taken.
public struct StreamItems: Sendable, Equatable {
    public var items: [ObjectID]
    public var finished: Bool

    public init(items: [ObjectID], finished: Bool) {
        self.items = items
        self.finished = finished
    }
}

extension ByteBuffer {
    /// 0: not a stream; 1: a stream without backpressure; n + 2: a stream pausing at n items.
    mutating func writeStreaming(_ streaming: StreamingReturns?) {
        guard let streaming else { return writeVarInt(0) }
        writeVarInt(streaming.backpressure.map { UInt64($0) + 2 } ?? 1)
    }

    /// A position or count sent as a varint (at most `Int.max`).
    mutating func readIndex() throws -> Int {
        let value = try readVarInt()
        guard value <= UInt64(Int.max) else { throw WireError.malformed("index \(value) out of range") }
        return Int(value)
    }

    mutating func readStreaming() throws -> StreamingReturns? {
        switch try readVarInt() {
        case 0: return nil
        case 1: return StreamingReturns()
        case let code: return StreamingReturns(backpressure: Int(truncatingIfNeeded: code - 2))
        }
    }
}
