import SwiftRay

extension Dataset {
    /// The dataset's blocks as they are made, fetching up to `prefetch` ahead of the consumer.
    public func iterBlocks(prefetch: Int = 1) -> BlockSequence {
        let execution = execution()
        return BlockSequence(source: { [plan] in execution.producer(plan) }, prefetch: prefetch)
    }

    /// Batches of exactly `batchSize` rows (the last may be smaller), across block boundaries
    /// (Ray's `iter_batches`, default 256); nil gives whole blocks.
    public func iterBatches(batchSize: Int? = 256, prefetchBatches: Int = 1) -> BatchSequence {
        BatchSequence(blocks: iterBlocks(prefetch: prefetchBatches), batchSize: batchSize)
    }

    /// Every row, streaming.
    public func iterRows() -> RowSequence { RowSequence(blocks: iterBlocks()) }
}

/// A dataset's blocks, in order, as an async sequence.
public struct BlockSequence: AsyncSequence, Sendable {
    public typealias Element = Block
    /// Starts the run whose blocks the sequence yields.
    let source: @Sendable () -> any BlockProducer
    let prefetch: Int

    public func makeAsyncIterator() -> Iterator { Iterator(source: source(), prefetch: Swift.max(1, prefetch)) }

    public struct Iterator: AsyncIteratorProtocol {
        let source: any BlockProducer
        let prefetch: Int
        var fetching: [Task<Block, any Error>] = []
        var done = false

        public mutating func next() async throws -> Block? {
            while !done, fetching.count < prefetch {
                guard let next = try await source.next() else { done = true; break }
                let ref = next.ref
                fetching.append(Task { try await ref.get() })
            }
            guard !fetching.isEmpty else { return nil }
            return try await fetching.removeFirst().value
        }
    }
}

/// A dataset's rows in batches of a fixed size.
public struct BatchSequence: AsyncSequence, Sendable {
    public typealias Element = Block
    let blocks: BlockSequence
    let batchSize: Int?

    public func makeAsyncIterator() -> Iterator { Iterator(blocks: blocks.makeAsyncIterator(), batchSize: batchSize) }

    public struct Iterator: AsyncIteratorProtocol {
        var blocks: BlockSequence.Iterator
        let batchSize: Int?
        /// Blocks not yet fully handed out; the first from row `offset` on.
        var pending: [Block] = []
        var offset = 0
        var pendingRows = 0
        var finished = false

        public mutating func next() async throws -> Block? {
            guard let batchSize, batchSize > 0 else {
                while let block = try await blocks.next() { if block.rowCount > 0 { return block } }
                return nil
            }
            while !finished, pendingRows < batchSize {
                guard let block = try await blocks.next() else { finished = true; break }
                if block.rowCount > 0 { pending.append(block); pendingRows += block.rowCount }
            }
            guard pendingRows > 0 else { return nil }
            // Slices of the pending blocks (no copy of the rest: each row is handed out once).
            var parts: [Block] = []
            var wanted = Swift.min(batchSize, pendingRows)
            pendingRows -= wanted
            while wanted > 0 {
                let first = pending[0]
                let taken = Swift.min(wanted, first.rowCount - offset)
                parts.append(first.slice(offset..<(offset + taken)))
                offset += taken
                wanted -= taken
                if offset == first.rowCount { pending.removeFirst(); offset = 0 }
            }
            return parts.count == 1 ? parts[0] : Block.concat(parts)
        }
    }
}

/// A dataset's rows, streaming.
public struct RowSequence: AsyncSequence, Sendable {
    public typealias Element = Row
    let blocks: BlockSequence

    public func makeAsyncIterator() -> Iterator { Iterator(blocks: blocks.makeAsyncIterator()) }

    public struct Iterator: AsyncIteratorProtocol {
        var blocks: BlockSequence.Iterator
        var current: Block?
        var index = 0

        public mutating func next() async throws -> Row? {
            while current == nil || index >= current!.rowCount {
                guard let block = try await blocks.next() else { return nil }
                current = block
                index = 0
            }
            defer { index += 1 }
            return current!.row(index)
        }
    }
}
