import RayPlatform
import RayWire

/// A read-only view of a large numeric array in the node's shared-memory store, read in place: no
/// copy is made, and the object stays alive (its ref is held) while the view lives. Small arrays,
/// which travel inline, are viewed from a private copy.
///
/// ```swift
/// @Remote func mean(_ data: ObjectRef<[Double]>) async throws -> Double {
///     let view = try await ray.view(data)
///     return view.reduce(0, +) / Double(view.count)
/// }
/// ```
/// A value whose binary encoding is a byte copy (arrays of numbers, `Data`, or a type that packs
/// itself): conform a hot message type to skip field-by-field `Codable` on every call.
public typealias RawBytesRepresentable = RayWire.RawBytesRepresentable
/// A fixed-size number whose arrays travel as raw bytes.
public typealias RawBytesElement = RayWire.RawBytesElement
/// A raw-bytes value that reads a shared-memory object in place (see `SharedRegion`).
public typealias MappedBytesRepresentable = RayWire.MappedBytesRepresentable

public final class ArrayView<Element: RawBytesElement>: RandomAccessCollection, @unchecked Sendable {
    private let base: UnsafeRawPointer?
    public let count: Int
    private let mapping: (address: UnsafeMutableRawPointer, size: Int)?
    /// A private copy, for values that travel inline.
    private let owned: UnsafeMutableRawBufferPointer?
    /// Keeps the object alive while the view reads it.
    private let ref: AnyObject?

    init(mapping address: UnsafeMutableRawPointer, size: Int, payloadOffset: Int, payloadCount: Int, keepAlive: AnyObject?) {
        mapping = (address, size)
        base = UnsafeRawPointer(address + payloadOffset)
        count = payloadCount / MemoryLayout<Element>.stride
        owned = nil
        ref = keepAlive
    }

    init(copying bytes: [UInt8], payloadOffset: Int, payloadCount: Int) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(payloadCount, 1), alignment: MemoryLayout<Element>.alignment)
        bytes.withUnsafeBytes { copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[payloadOffset..<(payloadOffset + payloadCount)])) }
        owned = copy
        count = payloadCount / MemoryLayout<Element>.stride
        base = UnsafeRawPointer(copy.baseAddress)
        mapping = nil
        ref = nil
    }

    deinit {
        if let mapping { munmap(mapping.address, mapping.size) }
        owned?.deallocate()
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < count, "index \(position) out of range 0..<\(count)")
        return base!.loadUnaligned(fromByteOffset: position * MemoryLayout<Element>.stride, as: Element.self)
    }

    /// Calls `body` with the elements' memory, in place.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count * MemoryLayout<Element>.stride))
    }

    /// Whether the view reads the shared-memory store in place (rather than a private copy).
    public var isShared: Bool { mapping != nil }
}

extension Ray {
    /// A zero-copy view of the array `ref` names (see ``ArrayView``).
    public func view<Element: RawBytesElement>(_ ref: ObjectRef<[Element]>, timeout: Duration? = nil) async throws -> ArrayView<Element> {
        let value: EncodedValue
        switch try await _payloads([ref.id], timeout: timeout)[0] {
        case .value(let encoded): value = encoded
        case .error(let info): throw info.typedError
        }
        guard let shared = value.shared else {
            let (offset, count) = try value.bytes.withUnsafeBytes { try Self.framePayload($0, typeName: "[\(Element.self)]") }
            return ArrayView(copying: value.bytes, payloadOffset: offset, payloadCount: count)
        }
        let size = value.sharedSize
        let address = try SharedStore.map(shared, size: size)
        do {
            let (offset, count) = try Self.framePayload(UnsafeRawBufferPointer(start: address, count: size), typeName: "[\(Element.self)]")
            return ArrayView(mapping: address, size: size, payloadOffset: offset, payloadCount: count, keepAlive: RefBox(ref))
        } catch {
            munmap(address, size)
            throw error
        }
    }

    /// Where a raw array's bytes start in its frame, and how many there are.
    static func framePayload(_ frame: UnsafeRawBufferPointer, typeName: String) throws -> (offset: Int, count: Int) {
        guard let (offset, count) = BinaryValueDecoder.payloadRange(of: frame) else {
            throw RaySerializationError(typeName: typeName, reason: "the object is not a raw array frame")
        }
        return (offset, count)
    }
}

/// Holds an `ObjectRef` in a class so a view can keep it.
private final class RefBox<T: Codable & Sendable>: @unchecked Sendable {
    let ref: ObjectRef<T>
    init(_ ref: ObjectRef<T>) { self.ref = ref }
}
