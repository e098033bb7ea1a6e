/// Decodes values written by ``BinaryValueEncoder``.
public enum BinaryValueDecoder {
    /// Decodes one frame holding a `T`. `userInfo` reaches every `init(from:)` (distributed actors
    /// find their actor system there).
    public static func decode<T: Decodable>(
        _ type: T.Type, from bytes: [UInt8], userInfo: [CodingUserInfoKey: Any] = [:]
    ) throws -> T {
        try bytes.withUnsafeBytes { raw in
            var index = 0
            let range = try FrameReader.readFrame(raw, at: &index)
            guard index == raw.count else {
                throw WireError.malformed("\(raw.count - index) trailing bytes after a \(T.self)")
            }
            return try decodeValue(T.self, raw, range, codingPath: [], userInfo: userInfo)
        }
    }

    /// Decodes one frame holding a `T` from memory it does not own (a mapped shared object).
    public static func decode<T: Decodable>(
        _ type: T.Type, fromBuffer raw: UnsafeRawBufferPointer, userInfo: [CodingUserInfoKey: Any] = [:]
    ) throws -> T {
        var index = 0
        let range = try FrameReader.readFrame(raw, at: &index)
        guard index == raw.count else {
            throw WireError.malformed("\(raw.count - index) trailing bytes after a \(T.self)")
        }
        return try decodeValue(T.self, raw, range, codingPath: [], userInfo: userInfo)
    }

    /// The payload of a single non-nil frame filling `frame` (offset and length), or nil.
    public static func payloadRange(of frame: UnsafeRawBufferPointer) -> (offset: Int, count: Int)? {
        var index = 0
        guard let range = (try? FrameReader.readFrame(frame, at: &index)) ?? nil, index == frame.count else { return nil }
        return (range.lowerBound, range.count)
    }

    static func decodeValue<T: Decodable>(
        _ type: T.Type, _ raw: UnsafeRawBufferPointer, _ range: Range<Int>?, codingPath: [any CodingKey],
        userInfo: [CodingUserInfoKey: Any]
    ) throws -> T {
        if let range {
            if let fast = try fastValue(T.self, UnsafeRawBufferPointer(rebasing: raw[range])) { return fast }
        } else if !(T.self is any ExpressibleByNilLiteral.Type) {
            throw DecodingError.valueNotFound(T.self, .init(codingPath: codingPath, debugDescription: "found nil"))
        }
        let decoder = NodeDecoder(raw: raw, range: range, codingPath: codingPath, userInfo: userInfo)
        return try T(from: decoder)
    }

    @inline(__always)
    static func fastValue<T>(_ type: T.Type, _ payload: UnsafeRawBufferPointer) throws -> T? {
        if T.self == Int.self { return Int(try FrameReader.integer(Int64.self, payload)) as? T }
        if T.self == Double.self { return Double(bitPattern: try FrameReader.integer(UInt64.self, payload)) as? T }
        if T.self == String.self { return String(decoding: payload, as: UTF8.self) as? T }
        if T.self == Bool.self { return (try FrameReader.integer(UInt8.self, payload) != 0) as? T }
        if let raw = T.self as? any RawBytesRepresentable.Type { return try raw.init(rawBytes: payload) as? T }
        return nil
    }
}

enum FrameReader {
    /// Reads a frame header and returns its payload range (nil for a nil frame).
    @inline(__always)
    static func readFrame(_ raw: UnsafeRawBufferPointer, at index: inout Int) throws -> Range<Int>? {
        let header = try VarInt.read(raw, at: &index)
        if header == 0 { return nil }
        guard header - 1 <= UInt64(raw.count - index) else {
            throw WireError.malformed("frame of \(header - 1) bytes with \(raw.count - index) left")
        }
        let length = Int(header - 1)
        defer { index += length }
        return index..<(index + length)
    }

    @inline(__always)
    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ payload: UnsafeRawBufferPointer) throws -> I {
        guard payload.count == MemoryLayout<I>.size else {
            throw WireError.malformed("expected \(MemoryLayout<I>.size) bytes for \(I.self), found \(payload.count)")
        }
        return I(littleEndian: payload.loadUnaligned(as: I.self))
    }
}

final class NodeDecoder: Decoder {
    let raw: UnsafeRawBufferPointer
    let range: Range<Int>?
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    init(raw: UnsafeRawBufferPointer, range: Range<Int>?, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: Any]) {
        self.raw = raw
        self.range = range
        self.codingPath = codingPath
        self.userInfo = userInfo
    }

    func payload() throws -> Range<Int> {
        guard let range else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "found nil"))
        }
        return range
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedFrameContainer<Key>(decoder: self, payload: try payload()))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedFrameContainer(decoder: self, payload: try payload())
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleFrameContainer(decoder: self)
    }
}

struct KeyedFrameContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private var entries: [(key: String, range: Range<Int>?)] = []
    private var index: [String: Int]? = nil

    init(decoder: NodeDecoder, payload: Range<Int>) throws {
        self.decoder = decoder
        var at = payload.lowerBound
        let bounded = UnsafeRawBufferPointer(rebasing: decoder.raw[..<payload.upperBound])
        while at < payload.upperBound {
            let rawLength = try VarInt.read(bounded, at: &at)
            guard rawLength <= UInt64(payload.upperBound - at) else { throw WireError.malformed("key runs past its container") }
            let keyLength = Int(rawLength)
            let key = String(decoding: UnsafeRawBufferPointer(rebasing: bounded[at..<(at + keyLength)]), as: UTF8.self)
            at += keyLength
            entries.append((key, try FrameReader.readFrame(bounded, at: &at)))
        }
        if entries.count > 12 {
            index = Dictionary(entries.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    var allKeys: [Key] { entries.compactMap { Key(stringValue: $0.key) } }

    private func find(_ key: Key) -> (found: Bool, range: Range<Int>?) {
        let name = key.stringValue
        if let index {
            guard let position = index[name] else { return (false, nil) }
            return (true, entries[position].range)
        }
        for entry in entries where entry.key == name { return (true, entry.range) }
        return (false, nil)
    }

    private func require(_ key: Key) throws -> Range<Int>? {
        let (found, range) = find(key)
        guard found else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return range
    }

    func contains(_ key: Key) -> Bool { find(key).found }

    func decodeNil(forKey key: Key) throws -> Bool { try require(key) == nil }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try BinaryValueDecoder.decodeValue(T.self, decoder.raw, try require(key), codingPath: codingPath + [key], userInfo: decoder.userInfo)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let (found, range) = find(key)
        guard found, let range else { return nil }
        return try BinaryValueDecoder.decodeValue(T.self, decoder.raw, range, codingPath: codingPath + [key], userInfo: decoder.userInfo)
    }

    private func nestedDecoder(_ key: Key) throws -> NodeDecoder {
        NodeDecoder(raw: decoder.raw, range: try require(key), codingPath: codingPath + [key], userInfo: decoder.userInfo)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try nestedDecoder(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try nestedDecoder(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { try nestedDecoder(Key(stringValue: "super")!) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try nestedDecoder(key) }
}

struct UnkeyedFrameContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private let frames: [Range<Int>?]
    private(set) var currentIndex = 0

    init(decoder: NodeDecoder, payload: Range<Int>) throws {
        self.decoder = decoder
        var frames: [Range<Int>?] = []
        var at = payload.lowerBound
        let bounded = UnsafeRawBufferPointer(rebasing: decoder.raw[..<payload.upperBound])
        while at < payload.upperBound { frames.append(try FrameReader.readFrame(bounded, at: &at)) }
        self.frames = frames
    }

    var count: Int? { frames.count }
    var isAtEnd: Bool { currentIndex >= frames.count }

    private mutating func next() throws -> Range<Int>? {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "unkeyed container is at its end"))
        }
        defer { currentIndex += 1 }
        return frames[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if frames[currentIndex] == nil { currentIndex += 1; return true }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try BinaryValueDecoder.decodeValue(T.self, decoder.raw, try next(), codingPath: codingPath, userInfo: decoder.userInfo)
    }

    private mutating func nestedDecoder() throws -> NodeDecoder {
        NodeDecoder(raw: decoder.raw, range: try next(), codingPath: codingPath, userInfo: decoder.userInfo)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try nestedDecoder().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nestedDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { try nestedDecoder() }
}

struct SingleFrameContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.range == nil }

    private func payload() throws -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: decoder.raw[try decoder.payload()])
    }

    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        try FrameReader.integer(I.self, try payload())
    }

    func decode(_ type: Bool.Type) throws -> Bool { try integer(UInt8.self) != 0 }
    func decode(_ type: String.Type) throws -> String { String(decoding: try payload(), as: UTF8.self) }
    func decode(_ type: Double.Type) throws -> Double { Double(bitPattern: try integer(UInt64.self)) }
    func decode(_ type: Float.Type) throws -> Float { Float(bitPattern: try integer(UInt32.self)) }
    func decode(_ type: Int.Type) throws -> Int { Int(try integer(Int64.self)) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { UInt(try integer(UInt64.self)) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try BinaryValueDecoder.decodeValue(T.self, decoder.raw, decoder.range, codingPath: codingPath, userInfo: decoder.userInfo)
    }
}
