/// Parquet's RLE / bit-packing hybrid: the encoding of definition levels, dictionary indices and
/// RLE Booleans. A run header (ULEB128) is `count << 1` for a repeated value (stored in
/// `ceil(width / 8)` bytes) or `groups << 1 | 1` for `groups * 8` values packed `width` bits each,
/// least significant bit first.
enum RLEHybrid {
    /// Decodes `count` values of `width` bits from `bytes[position...]`, advancing `position`.
    /// - Throws: `DataError.invalid` when the runs end early or the width is impossible.
    static func decode(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, end: Int, width: Int, count: Int) throws -> [UInt32] {
        guard (0...32).contains(width) else { throw DataError.invalid("Parquet: bit width \(width)") }
        var out: [UInt32] = []
        out.reserveCapacity(Swift.min(count, 1 << 20))
        let valueBytes = (width + 7) / 8
        while out.count < count {
            guard position < end else { throw DataError.invalid("Parquet: RLE runs end after \(out.count) of \(count) values") }
            var reader = Thrift.Reader(UnsafeRawBufferPointer(rebasing: bytes[..<end]), at: position)
            let header = try reader.varint()
            position = reader.position
            if header & 1 == 0 {
                let run = Int(clamping: header >> 1)
                guard position + valueBytes <= end else { throw DataError.invalid("Parquet: RLE run ends early") }
                var value: UInt32 = 0
                for i in 0..<valueBytes { value |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
                position += valueBytes
                out.append(contentsOf: repeatElement(value, count: Swift.min(run, count - out.count)))
            } else {
                let values = Int(Swift.min(header >> 1, UInt64(Int32.max))) * 8
                let byteCount = (values * width + 7) / 8
                // A last group may be cut short of its padding in some writers: read what is there.
                let available = Swift.min(byteCount, end - position)
                let take = Swift.min(values, count - out.count, available * 8 / Swift.max(width, 1))
                unpack(bytes, from: position, width: width, count: width == 0 ? Swift.min(values, count - out.count) : take, into: &out)
                position += available
            }
        }
        return out
    }

    private static func unpack(_ bytes: UnsafeRawBufferPointer, from start: Int, width: Int, count: Int, into out: inout [UInt32]) {
        guard width > 0 else { out.append(contentsOf: repeatElement(0, count: count)); return }
        let mask: UInt64 = (1 << UInt64(width)) - 1
        let old = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        out.withUnsafeMutableBufferPointer { out in
            var bit = 0
            for k in old..<(old + count) {
                let byte = start + bit >> 3
                // One unaligned 8-byte load where the buffer allows (width <= 32 fits from any bit).
                let word: UInt64
                if byte + 8 <= bytes.count {
                    word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: byte, as: UInt64.self))
                } else {
                    var w: UInt64 = 0
                    for i in 0..<Swift.min(8, bytes.count - byte) { w |= UInt64(bytes[byte + i]) << (8 * UInt64(i)) }
                    word = w
                }
                out[k] = UInt32(truncatingIfNeeded: (word >> UInt64(bit & 7)) & mask)
                bit += width
            }
        }
    }

    /// Encodes `values` of `width` bits: runs of 8 or more equal values as RLE runs, the rest packed.
    static func encode(_ values: [UInt32], width: Int) -> [UInt8] {
        var out: [UInt8] = []
        var packed: [UInt32] = []
        var i = 0
        func varint(_ v: Int) {
            var v = UInt64(v)
            while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
            out.append(UInt8(v))
        }
        func flushPacked() {
            guard !packed.isEmpty else { return }
            let groups = (packed.count + 7) / 8
            packed += repeatElement(0, count: groups * 8 - packed.count)
            varint(groups << 1 | 1)
            var bits: UInt64 = 0, held = 0
            for value in packed {
                bits |= UInt64(value) << UInt64(held)
                held += width
                while held >= 8 { out.append(UInt8(bits & 0xff)); bits >>= 8; held -= 8 }
            }
            if held > 0 { out.append(UInt8(bits & 0xff)) }
            packed.removeAll(keepingCapacity: true)
        }
        while i < values.count {
            var run = 1
            while i + run < values.count, values[i + run] == values[i] { run += 1 }
            // Pack until the pending values fill whole groups, then a long repeat becomes an RLE run.
            if run >= 8, packed.count % 8 == 0 {
                flushPacked()
                varint(run << 1)
                for b in 0..<((width + 7) / 8) { out.append(UInt8((values[i] >> (8 * UInt32(b))) & 0xff)) }
                i += run
            } else {
                let take = run >= 8 ? 8 - packed.count % 8 : run
                packed.append(contentsOf: repeatElement(values[i], count: take))
                i += take
            }
        }
        flushPacked()
        return out
    }

    /// Bits needed for values up to `max`.
    static func width(for max: Int) -> Int { max <= 0 ? 0 : Int.bitWidth - max.leadingZeroBitCount }
}
