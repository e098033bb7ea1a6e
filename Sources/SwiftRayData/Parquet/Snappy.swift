/// Snappy, the raw block format (Parquet's default codec): a ULEB128 length, then literals and
/// back-references. No Swift package carries it; the format is small enough to keep here.
enum Snappy {
    /// The decompressed bytes. - Throws: `DataError.invalid` on any malformed input (never reads
    /// or writes out of bounds).
    static func decompress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        var reader = Thrift.Reader(input)
        let length = Int(clamping: try reader.varint())
        // A hostile length cannot make us allocate more than the format allows (a byte can at most
        // expand to 64 / 3 bytes).
        guard length <= (input.count - reader.position) * 22 + 64 else { throw corrupt("length \(length) too large") }
        var position = reader.position
        var out = [UInt8](repeating: 0, count: length)
        var written = 0
        try out.withUnsafeMutableBufferPointer { out in
            while position < input.count {
                let tag = input[position]
                position += 1
                if tag & 3 == 0 {
                    var count = Int(tag >> 2)
                    if count >= 60 {
                        let extra = count - 59
                        guard position + extra <= input.count else { throw corrupt("literal length ends early") }
                        count = 0
                        for i in 0..<extra { count |= Int(input[position + i]) << (8 * i) }
                        position += extra
                    }
                    count += 1
                    guard count <= input.count - position, count <= length - written else { throw corrupt("literal overruns") }
                    UnsafeMutableRawBufferPointer(out).baseAddress!.advanced(by: written)
                        .copyMemory(from: input.baseAddress! + position, byteCount: count)
                    position += count
                    written += count
                    continue
                }
                let count: Int, offset: Int
                switch tag & 3 {
                case 1:
                    guard position < input.count else { throw corrupt("copy ends early") }
                    count = Int((tag >> 2) & 7) + 4
                    offset = Int(tag >> 5) << 8 | Int(input[position])
                    position += 1
                case 2:
                    guard position + 2 <= input.count else { throw corrupt("copy ends early") }
                    count = Int(tag >> 2) + 1
                    offset = Int(input[position]) | Int(input[position + 1]) << 8
                    position += 2
                default:
                    guard position + 4 <= input.count else { throw corrupt("copy ends early") }
                    count = Int(tag >> 2) + 1
                    offset = Int(input.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian)
                    position += 4
                }
                guard offset > 0, offset <= written, count <= length - written else { throw corrupt("copy out of range") }
                // Byte by byte: a copy may overlap what it writes (a run).
                for i in 0..<count { out[written + i] = out[written - offset + i] }
                written += count
            }
        }
        guard written == length else { throw corrupt("\(written) of \(length) bytes") }
        return out
    }

    /// `input` compressed: greedy matching of 4-byte sequences through a hash table, 64 KiB at a time.
    static func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(input.count + input.count / 6 + 32)
        var length = UInt64(input.count)
        while length >= 0x80 { out.append(UInt8(length & 0x7f) | 0x80); length >>= 7 }
        out.append(UInt8(length))
        var table = [Int32](repeating: -1, count: 1 << 14)
        var fragment = 0
        while fragment < input.count {
            let end = Swift.min(fragment + 65536, input.count)
            compressFragment(input, fragment, end, &table, &out)
            fragment = end
        }
        return out
    }

    private static func compressFragment(_ input: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ table: inout [Int32], _ out: inout [UInt8]) {
        for i in table.indices { table[i] = -1 }
        var literalStart = start
        var i = start
        @inline(__always) func load(_ at: Int) -> UInt32 { input.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
        @inline(__always) func hash(_ v: UInt32) -> Int { Int((v &* 0x1e35_a7bd) >> 18) }
        while i + 4 <= end {
            let value = load(i)
            let h = hash(value)
            let candidate = Int(table[h])
            table[h] = Int32(i)
            guard candidate >= start, i - candidate <= 65535, load(candidate) == value else { i += 1; continue }
            var matched = 4
            while i + matched < end, input[candidate + matched] == input[i + matched] { matched += 1 }
            emitLiteral(input, literalStart, i, &out)
            emitCopy(offset: i - candidate, length: matched, &out)
            i += matched
            literalStart = i
        }
        emitLiteral(input, literalStart, end, &out)
    }

    private static func emitLiteral(_ input: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ out: inout [UInt8]) {
        let count = end - start
        guard count > 0 else { return }
        let n = count - 1
        if n < 60 {
            out.append(UInt8(n) << 2)
        } else {
            let bytes = (Int.bitWidth - n.leadingZeroBitCount + 7) / 8
            out.append(UInt8(59 + bytes) << 2)
            for b in 0..<bytes { out.append(UInt8((n >> (8 * b)) & 0xff)) }
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[start..<end]))
    }

    private static func emitCopy(offset: Int, length: Int, _ out: inout [UInt8]) {
        var left = length
        while left > 0 {
            // Copies of at most 64 bytes, never leaving fewer than 4 for the last one.
            var count = Swift.min(left, 64)
            if (1..<4).contains(left - count) { count = left - 4 }
            if count >= 4, count <= 11, offset < 2048 {
                out.append(UInt8(1 | (count - 4) << 2 | (offset >> 8) << 5))
                out.append(UInt8(offset & 0xff))
            } else {
                out.append(UInt8(2 | (count - 1) << 2))
                out.append(UInt8(offset & 0xff))
                out.append(UInt8(offset >> 8))
            }
            left -= count
        }
    }

    private static func corrupt(_ reason: String) -> DataError { DataError.invalid("Parquet: corrupt snappy data: \(reason)") }
}
