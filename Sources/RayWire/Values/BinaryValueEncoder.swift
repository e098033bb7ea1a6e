/// Encodes `Encodable` values in swift-ray's compact binary format.
///
/// Every value is a *frame*: a varint header (0 for nil, otherwise length + 1) and its payload.
/// Numbers are fixed-width little-endian, strings UTF-8, keyed containers a sequence of
/// (key, frame) pairs, unkeyed containers a sequence of frames. Arrays of trivial numbers and `Data`
/// are copied as raw bytes. Keys are kept, so any `Codable` type round-trips, including enums with
/// associated values and dictionaries, whatever order its `encode(to:)` writes keys in.
public enum BinaryValueEncoder {
    /// Encodes `value` as one frame. `userInfo` reaches every `encode(to:)`.
    public static func encode<T: Encodable>(_ value: T, userInfo: [CodingUserInfoKey: Any] = [:]) throws -> [UInt8] {
        var out: [UInt8] = []
        if let raw = value as? RawBytesRepresentable {
            // One copy: header, then the raw bytes straight into the output.
            let count = raw.rawByteCount
            out.reserveCapacity(count + 10)
            VarInt.append(UInt64(count) + 1, to: &out)
            raw.appendRawBytes(to: &out)
            return out
        }
        if let fast = fastPayload(value) {
            out.reserveCapacity(fast.count + 5)
            VarInt.append(UInt64(fast.count) + 1, to: &out)
            out.append(contentsOf: fast)
            return out
        }
        let node = try EncodingNode.make(value, codingPath: [], userInfo: userInfo)
        node.appendFrame(to: &out)
        return out
    }

    /// The frame header of a payload of `count` bytes (for writers that place the payload themselves).
    public static func frameHeader(payloadCount count: Int) -> [UInt8] {
        var header: [UInt8] = []
        VarInt.append(UInt64(count) + 1, to: &header)
        return header
    }

    /// The frame header of a `count`-byte payload, always 8 bytes long (a varint with redundant
    /// continuation bytes, which readers accept), so a payload written after it at an aligned
    /// offset (the start of a store file) is 8-byte aligned too.
    public static func alignedFrameHeader(payloadCount count: Int) -> [UInt8] {
        let value = UInt64(count) + 1
        precondition(value < 1 << 56, "payload too large for an 8-byte frame header")
        var header = (0..<7).map { UInt8(truncatingIfNeeded: value >> (7 * UInt64($0))) & 0x7F | 0x80 }
        header.append(UInt8(truncatingIfNeeded: value >> 49))
        return header
    }

    /// The frame of a common scalar (`String`, `Int`, `Double`, `Bool`), found by comparing
    /// metatypes: in unspecialized generic code (an actor method's result) this costs a pointer
    /// comparison where a cast costs a runtime conformance lookup. Nil for other types.
    public static func scalarFrame<T>(_ value: T) -> [UInt8]? {
        guard let payload = scalarPayload(value) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 5)
        VarInt.append(UInt64(payload.count) + 1, to: &out)
        out.append(contentsOf: payload)
        return out
    }

    @inline(__always)
    static func scalarPayload<T>(_ value: T) -> [UInt8]? {
        if T.self == String.self { return Array(unsafeBitCast(value, to: String.self).utf8) }
        if T.self == Int.self { return le(Int64(unsafeBitCast(value, to: Int.self))) }
        if T.self == Double.self { return le(unsafeBitCast(value, to: Double.self).bitPattern) }
        if T.self == Bool.self { return [unsafeBitCast(value, to: Bool.self) ? 1 : 0] }
        return nil
    }

    /// The payload of values that need no container: primitives and raw-bytes arrays.
    @inline(__always)
    static func fastPayload<T: Encodable>(_ value: T) -> [UInt8]? {
        if let scalar = scalarPayload(value) { return scalar }
        switch value {
        case let v as Int: return le(Int64(v))
        case let v as Double: return le(v.bitPattern)
        case let v as String: return Array(v.utf8)
        case let v as Bool: return [v ? 1 : 0]
        case let v as RawBytesRepresentable:
            var bytes: [UInt8] = []
            v.appendRawBytes(to: &bytes)
            return bytes
        default: return nil
        }
    }

    @inline(__always)
    static func le<I: FixedWidthInteger>(_ value: I) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}

/// One value of an encoding in progress: containers fill in after they are handed out, so the tree
/// is serialized only once `encode` returns.
final class EncodingNode {
    enum Content {
        case empty
        case nilValue
        case bytes([UInt8])
        case keyed([(String, EncodingNode)])
        case unkeyed([EncodingNode])
    }

    var content: Content = .empty

    init(_ content: Content = .empty) { self.content = content }

    static func make<T: Encodable>(_ value: T, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: Any]) throws -> EncodingNode {
        if let fast = BinaryValueEncoder.fastPayload(value) { return EncodingNode(.bytes(fast)) }
        let encoder = NodeEncoder(codingPath: codingPath, userInfo: userInfo)
        do {
            try value.encode(to: encoder)
        } catch let error as EncodingError {
            throw error
        } catch {
            throw EncodingError.invalidValue(
                value, .init(codingPath: codingPath, debugDescription: "\(T.self) failed to encode: \(error)", underlyingError: error))
        }
        return encoder.node
    }

    func appendFrame(to out: inout [UInt8]) {
        switch content {
        case .nilValue:
            out.append(0)
        case .bytes(let bytes):
            VarInt.append(UInt64(bytes.count) + 1, to: &out)
            out.append(contentsOf: bytes)
        case .empty, .keyed, .unkeyed:
            var payload: [UInt8] = []
            appendPayload(to: &payload)
            VarInt.append(UInt64(payload.count) + 1, to: &out)
            out.append(contentsOf: payload)
        }
    }

    private func appendPayload(to out: inout [UInt8]) {
        switch content {
        case .empty, .nilValue: break
        case .bytes(let bytes): out.append(contentsOf: bytes)
        case .keyed(let entries):
            for (key, node) in entries {
                let utf8 = key.utf8
                VarInt.append(UInt64(utf8.count), to: &out)
                out.append(contentsOf: utf8)
                node.appendFrame(to: &out)
            }
        case .unkeyed(let nodes):
            for node in nodes { node.appendFrame(to: &out) }
        }
    }
}

final class NodeEncoder: Encoder {
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]
    let node = EncodingNode()

    init(codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: Any]) {
        self.codingPath = codingPath
        self.userInfo = userInfo
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .keyed = node.content {} else { node.content = .keyed([]) }
        return KeyedEncodingContainer(KeyedNodeContainer<Key>(node: node, codingPath: codingPath, userInfo: userInfo))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .unkeyed = node.content {} else { node.content = .unkeyed([]) }
        return UnkeyedNodeContainer(node: node, codingPath: codingPath, userInfo: userInfo)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleNodeContainer(node: node, codingPath: codingPath, userInfo: userInfo)
    }
}

struct KeyedNodeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    private func append(_ key: Key, _ child: EncodingNode) {
        guard case .keyed(var entries) = node.content else { return }
        node.content = .empty  // keep `entries` uniquely referenced while appending
        entries.append((key.stringValue, child))
        node.content = .keyed(entries)
    }

    mutating func encodeNil(forKey key: Key) throws { append(key, EncodingNode(.nilValue)) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        append(key, try EncodingNode.make(value, codingPath: codingPath + [key], userInfo: userInfo))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingNode(.keyed([]))
        append(key, child)
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: child, codingPath: codingPath + [key], userInfo: userInfo))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = EncodingNode(.unkeyed([]))
        append(key, child)
        return UnkeyedNodeContainer(node: child, codingPath: codingPath + [key], userInfo: userInfo)
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let encoder = NodeEncoder(codingPath: codingPath + [key], userInfo: userInfo)
        append(key, encoder.node)
        return encoder
    }
}

struct UnkeyedNodeContainer: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    var count: Int {
        if case .unkeyed(let nodes) = node.content { return nodes.count }
        return 0
    }

    private func append(_ child: EncodingNode) {
        guard case .unkeyed(var nodes) = node.content else { return }
        node.content = .empty
        nodes.append(child)
        node.content = .unkeyed(nodes)
    }

    mutating func encodeNil() throws { append(EncodingNode(.nilValue)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try EncodingNode.make(value, codingPath: codingPath, userInfo: userInfo))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingNode(.keyed([]))
        append(child)
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: child, codingPath: codingPath, userInfo: userInfo))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = EncodingNode(.unkeyed([]))
        append(child)
        return UnkeyedNodeContainer(node: child, codingPath: codingPath, userInfo: userInfo)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = NodeEncoder(codingPath: codingPath, userInfo: userInfo)
        append(encoder.node)
        return encoder
    }
}

struct SingleNodeContainer: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    mutating func encodeNil() throws { node.content = .nilValue }
    mutating func encode(_ value: Bool) throws { node.content = .bytes([value ? 1 : 0]) }
    mutating func encode(_ value: String) throws { node.content = .bytes(Array(value.utf8)) }
    mutating func encode(_ value: Double) throws { node.content = .bytes(BinaryValueEncoder.le(value.bitPattern)) }
    mutating func encode(_ value: Float) throws { node.content = .bytes(BinaryValueEncoder.le(value.bitPattern)) }
    mutating func encode(_ value: Int) throws { node.content = .bytes(BinaryValueEncoder.le(Int64(value))) }
    mutating func encode(_ value: Int8) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }
    mutating func encode(_ value: Int16) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }
    mutating func encode(_ value: Int32) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }
    mutating func encode(_ value: Int64) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }
    mutating func encode(_ value: UInt) throws { node.content = .bytes(BinaryValueEncoder.le(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }
    mutating func encode(_ value: UInt16) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }
    mutating func encode(_ value: UInt32) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }
    mutating func encode(_ value: UInt64) throws { node.content = .bytes(BinaryValueEncoder.le(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let child = try EncodingNode.make(value, codingPath: codingPath, userInfo: userInfo)
        node.content = child.content
    }
}
