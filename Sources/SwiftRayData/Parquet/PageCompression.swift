import CompressNIO
import NIOCore

/// Parquet's compression codecs this module reads and writes.
public enum ParquetCompression: String, Codable, Sendable, CaseIterable {
    case uncompressed
    /// The default (as pyarrow's).
    case snappy
    case gzip

    /// The codec's number in Parquet's footer.
    var code: Int64 {
        switch self {
        case .uncompressed: 0
        case .snappy: 1
        case .gzip: 2
        }
    }

    /// The codec numbered `code`. - Throws: `DataError.invalid` naming codecs not supported.
    init(code: Int64, path: String) throws {
        switch code {
        case 0: self = .uncompressed
        case 1: self = .snappy
        case 2: self = .gzip
        default:
            let names = [3: "LZO", 4: "BROTLI", 5: "LZ4", 6: "ZSTD", 7: "LZ4_RAW"]
            throw DataError.io(path: path, reason: "Parquet codec \(names[Int(code)] ?? "#\(code)") is not supported (write it with compression snappy, gzip or none)")
        }
    }

    func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        switch self {
        case .uncompressed: return bytes
        case .snappy: return bytes.withUnsafeBytes { Snappy.compress($0) }
        case .gzip:
            var input = ByteBuffer(bytes: bytes)
            do {
                let output = try input.compress(with: .gzip())
                return Array(output.readableBytesView)
            } catch {
                throw DataError.invalid("Parquet: gzip failed: \(error)")
            }
        }
    }

    /// `bytes` decompressed to `size` bytes.
    func decompress(_ bytes: UnsafeRawBufferPointer, size: Int) throws -> [UInt8] {
        guard size >= 0, size <= 1 << 31 else { throw DataError.invalid("Parquet: page size \(size)") }
        let out: [UInt8]
        switch self {
        case .uncompressed: out = Array(bytes)
        case .snappy: out = try Snappy.decompress(bytes)
        case .gzip:
            var input = ByteBuffer(bytes: bytes)
            var output = ByteBuffer()
            output.reserveCapacity(size)
            // Writers put a gzip header; some older ones a zlib one.
            let isGzip = bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
            do {
                try input.decompress(to: &output, with: isGzip ? .gzip() : .zlib())
            } catch {
                throw DataError.invalid("Parquet: corrupt gzip page: \(error)")
            }
            out = Array(output.readableBytesView)
        }
        guard out.count == size else { throw DataError.invalid("Parquet: page holds \(out.count) bytes, its header says \(size)") }
        return out
    }
}
