import SwiftRay

/// Requests and responses cross to replicas on every call, so they pack themselves into one byte
/// array (length-prefixed fields) instead of going through field-by-field `Codable`: the binary
/// encoding copies that array as it is. (`Codable` still gives JSON with named fields.)
extension ServeRequest: PackedMessage {
    public var rawByteCount: Int {
        Packing.size(method) + Packing.size(path) + Packing.size(routePrefix) + Packing.size(query) + Packing.size(headers) + 4 + body.count
    }

    public func appendRawBytes(to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + rawByteCount)
        Packing.append(method, to: &bytes)
        Packing.append(path, to: &bytes)
        Packing.append(routePrefix, to: &bytes)
        Packing.append(query, to: &bytes)
        Packing.append(headers, to: &bytes)
        Packing.append(body, to: &bytes)
    }

    public init(rawBytes: UnsafeRawBufferPointer) throws {
        var reader = Packing.Reader(buffer: rawBytes)
        self.init(
            method: try reader.string(), path: try reader.string(), routePrefix: try reader.string(), query: try reader.dictionary(),
            headers: try reader.dictionary(), body: try reader.bytes())
    }
}

extension ServeResponse: PackedMessage {
    public var rawByteCount: Int { 4 + Packing.size(headers) + 4 + body.count }

    public func appendRawBytes(to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + rawByteCount)
        Packing.append(UInt32(truncatingIfNeeded: status), to: &bytes)
        Packing.append(headers, to: &bytes)
        Packing.append(body, to: &bytes)
    }

    public init(rawBytes: UnsafeRawBufferPointer) throws {
        var reader = Packing.Reader(buffer: rawBytes)
        self.init(status: Int(try reader.integer()), headers: try reader.dictionary(), body: try reader.bytes())
    }
}

/// A message that packs itself: its bytes in place are the packed array.
public protocol PackedMessage: RawBytesRepresentable {}

extension PackedMessage {
    public func withRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var bytes: [UInt8] = []
        appendRawBytes(to: &bytes)
        return try bytes.withUnsafeBytes(body)
    }
}

/// Length-prefixed fields: a 4-byte little-endian count, then the bytes.
enum Packing {
    static func size(_ text: String) -> Int { 4 + text.utf8.count }
    static func size(_ pairs: [String: String]) -> Int { pairs.reduce(4) { $0 + size($1.key) + size($1.value) } }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func append(_ text: String, to bytes: inout [UInt8]) {
        append(UInt32(text.utf8.count), to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }

    static func append(_ raw: [UInt8], to bytes: inout [UInt8]) {
        append(UInt32(raw.count), to: &bytes)
        bytes.append(contentsOf: raw)
    }

    static func append(_ pairs: [String: String], to bytes: inout [UInt8]) {
        append(UInt32(pairs.count), to: &bytes)
        for (key, value) in pairs {
            append(key, to: &bytes)
            append(value, to: &bytes)
        }
    }

    /// Reads fields back; a count running past the end is `ServeError`, never a crash.
    struct Reader {
        let buffer: UnsafeRawBufferPointer
        var offset = 0

        mutating func integer() throws -> UInt32 {
            guard offset + 4 <= buffer.count else { throw ServeError("a packed Serve message ends early") }
            var value: UInt32 = 0
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + 4])) }
            offset += 4
            return UInt32(littleEndian: value)
        }

        mutating func slice() throws -> UnsafeRawBufferPointer {
            let count = Int(try integer())
            guard count <= buffer.count - offset else { throw ServeError("a packed Serve message ends early") }
            defer { offset += count }
            return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + count])
        }

        mutating func string() throws -> String { String(decoding: try slice(), as: UTF8.self) }
        mutating func bytes() throws -> [UInt8] { Array(try slice()) }

        mutating func dictionary() throws -> [String: String] {
            let count = Int(try integer())
            guard count <= (buffer.count - offset) / 8 else { throw ServeError("a packed Serve message ends early") }
            var pairs: [String: String] = [:]
            pairs.reserveCapacity(count)
            for _ in 0..<count { pairs[try string()] = try string() }
            return pairs
        }
    }
}
