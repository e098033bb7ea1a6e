/// A column's contiguous values: an array this process owns, or values read in place from a block
/// in the node's shared-memory store (no copy; the mapping stays while any copy of the buffer
/// lives). Mutating a mapped buffer first copies it into an array of its own.
///
/// It behaves as an array (`RandomAccessCollection`, `MutableCollection`,
/// `RangeReplaceableCollection`); hot loops read it through `withUnsafeBufferPointer`.
public struct ColumnBuffer<Element: BitwiseCopyable & Sendable>: Sendable {
    enum Storage: Sendable {
        case owned([Element])
        case mapped(MappedValues<Element>)
    }

    private(set) var storage: Storage

    /// The values of `array`, owned.
    public init(_ array: [Element]) { storage = .owned(array) }

    /// `count` values at `base`, read in place while `owner` lives (which keeps them mapped).
    init(mapped base: UnsafeRawPointer, count: Int, owner: any AnyObject & Sendable) {
        storage = .mapped(MappedValues(base: base.assumingMemoryBound(to: Element.self), count: count, owner: owner))
    }

    /// Whether the values are read in place from the shared-memory store.
    public var isMapped: Bool {
        if case .mapped = storage { return true }
        return false
    }

    /// The values as an array (a copy when mapped).
    public var array: [Element] {
        switch storage {
        case .owned(let values): values
        case .mapped(let values): Array(values.buffer)
        }
    }

    /// The values at `range`: mapped values stay in place (same mapping), owned ones are copied.
    public func slice(_ range: Range<Int>) -> ColumnBuffer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) out of range 0..<\(count)")
        switch storage {
        case .owned(let values): return ColumnBuffer(Array(values[range]))
        case .mapped(let values):
            return ColumnBuffer(mapped: UnsafeRawPointer(values.base + range.lowerBound), count: range.count, owner: values.owner)
        }
    }

    /// Calls `body` with the values' memory, in place.
    @inline(__always)
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let values): try values.withUnsafeBufferPointer(body)
        case .mapped(let values): try body(values.buffer)
        }
    }

    /// Calls `body` with the values' bytes, in place.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }

    /// Calls `body` with the values as an owned array to change in place (copied first if mapped;
    /// emptied meanwhile so the array stays uniquely referenced and is not copied).
    @inline(__always)
    public mutating func withArray<R>(_ body: (inout [Element]) throws -> R) rethrows -> R {
        var values: [Element]
        switch storage {
        case .owned(let owned): values = owned
        case .mapped(let mapped): values = Array(mapped.buffer)
        }
        storage = .owned([])
        defer { storage = .owned(values) }
        return try body(&values)
    }

    /// Calls `body` with the values' memory to change in place (copied first if mapped).
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Element>) throws -> R) rethrows -> R {
        try withArray { try $0.withUnsafeMutableBufferPointer(body) }
    }

    /// Calls `body` with the values' bytes to change in place (copied first if mapped).
    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try withArray { try $0.withUnsafeMutableBytes(body) }
    }
}

/// Values in a mapping, and what keeps it mapped.
struct MappedValues<Element>: @unchecked Sendable {
    let base: UnsafePointer<Element>
    let count: Int
    let owner: any AnyObject & Sendable

    var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }
}

extension ColumnBuffer: RandomAccessCollection, MutableCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public var count: Int {
        switch storage {
        case .owned(let values): values.count
        case .mapped(let values): values.count
        }
    }

    public subscript(position: Int) -> Element {
        @inline(__always) get {
            switch storage {
            case .owned(let values): return values[position]
            case .mapped(let values):
                precondition(position >= 0 && position < values.count, "index \(position) out of range 0..<\(values.count)")
                return values.base[position]
            }
        }
        set { withArray { $0[position] = newValue } }
    }

    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R? {
        try withUnsafeBufferPointer(body)
    }
}

extension ColumnBuffer: RangeReplaceableCollection {
    public init() { storage = .owned([]) }

    public mutating func replaceSubrange<C: Collection>(_ subrange: Range<Int>, with newElements: C) where C.Element == Element {
        withArray { $0.replaceSubrange(subrange, with: newElements) }
    }

    public mutating func reserveCapacity(_ n: Int) { withArray { $0.reserveCapacity(n) } }

    public mutating func append(_ newElement: Element) { withArray { $0.append(newElement) } }

    public mutating func append<S: Sequence>(contentsOf newElements: S) where S.Element == Element {
        withArray { $0.append(contentsOf: newElements) }
    }
}

extension ColumnBuffer: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) { self.init(elements) }
}

extension ColumnBuffer: Equatable where Element: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.withUnsafeBufferPointer { a in rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) } }
    }
}

extension ColumnBuffer: CustomStringConvertible {
    public var description: String { array.description }
}
