#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A value whose encoding is its memory: contiguous arrays of trivial numbers and `Data`.
///
/// The binary encoding copies these as raw bytes (one `memcpy`) instead of element by element, so a
/// `[Double]` of a million elements costs a copy, not a million `encode` calls.
public protocol RawBytesRepresentable {
    /// How many bytes `appendRawBytes` appends.
    var rawByteCount: Int { get }
    /// Appends the value's bytes to `bytes`.
    func appendRawBytes(to bytes: inout [UInt8])
    /// Calls `body` with the value's bytes in place.
    func withRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
    /// Rebuilds a value from bytes written by `appendRawBytes`.
    init(rawBytes: UnsafeRawBufferPointer) throws
}

/// A raw-bytes value that can read a shared-memory object in place instead of copying it out.
///
/// When such a value is decoded from the node's object store, its bytes start 8-byte aligned in a
/// read-only mapping that stays valid (and the object alive) for as long as `owner` lives: keep it
/// in whatever aliases the bytes. Values that travel inline are rebuilt with `init(rawBytes:)`.
public protocol MappedBytesRepresentable: RawBytesRepresentable {
    /// Rebuilds a value over `mappedBytes` without copying them; `owner` keeps them mapped.
    init(mappedBytes: UnsafeRawBufferPointer, owner: any AnyObject & Sendable) throws
}

/// A fixed-size number whose arrays travel as raw bytes.
public protocol RawBytesElement: BitwiseCopyable, Codable {}

extension Double: RawBytesElement {}
extension Float: RawBytesElement {}
extension Int: RawBytesElement {}
extension Int8: RawBytesElement {}
extension Int16: RawBytesElement {}
extension Int32: RawBytesElement {}
extension Int64: RawBytesElement {}
extension UInt: RawBytesElement {}
extension UInt8: RawBytesElement {}
extension UInt16: RawBytesElement {}
extension UInt32: RawBytesElement {}
extension UInt64: RawBytesElement {}

extension Array: RawBytesRepresentable where Element: RawBytesElement {
    public var rawByteCount: Int { count * MemoryLayout<Element>.stride }

    public func appendRawBytes(to bytes: inout [UInt8]) {
        withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    public func withRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }

    public init(rawBytes: UnsafeRawBufferPointer) throws {
        let stride = MemoryLayout<Element>.stride
        guard rawBytes.count % stride == 0 else {
            throw WireError.malformed("\(rawBytes.count) bytes is not a whole number of \(Element.self)")
        }
        let count = rawBytes.count / stride
        self.init(unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: rawBytes)
            }
            initialized = count
        }
    }
}

extension Data: RawBytesRepresentable {
    public var rawByteCount: Int { count }

    public func appendRawBytes(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: self)
    }

    public func withRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }

    public init(rawBytes: UnsafeRawBufferPointer) throws {
        self.init(rawBytes)
    }
}
