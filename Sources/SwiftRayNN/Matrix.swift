/// A dense row-major matrix of `Double`s: the one tensor type the network needs.
public struct Matrix: Sendable, Equatable, Codable {
    public let rows: Int
    public let columns: Int
    /// `rows * columns` values, row after row.
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "a \(rows)x\(columns) matrix holds \(rows * columns) values, not \(values.count)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: value, count: rows * columns))
    }

    /// One row per inner array (all the same length).
    public init(_ rows: [[Double]]) {
        self.init(rows: rows.count, columns: rows.first?.count ?? 0, values: rows.flatMap { $0 })
    }

    public subscript(row: Int, column: Int) -> Double {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    /// Row `index` as an array.
    public func row(_ index: Int) -> [Double] { Array(values[index * columns..<(index + 1) * columns]) }

    /// The rows at `indices`, in that order (a mini-batch).
    public func rows(_ indices: some Collection<Int>) -> Matrix {
        var picked: [Double] = []
        picked.reserveCapacity(indices.count * columns)
        for index in indices { picked += values[index * columns..<(index + 1) * columns] }
        return Matrix(rows: indices.count, columns: columns, values: picked)
    }

    public var transposed: Matrix {
        var result = Matrix(rows: columns, columns: rows)
        for r in 0..<rows {
            for c in 0..<columns { result.values[c * rows + r] = values[r * columns + c] }
        }
        return result
    }

    /// `self · other`: i-k-j order so the inner loop runs over contiguous rows, eight lanes at a
    /// time (SIMD loads and stores straight from the buffers), then four, then the tail.
    public func multiplied(by other: Matrix) -> Matrix {
        precondition(columns == other.rows, "cannot multiply \(rows)x\(columns) by \(other.rows)x\(other.columns)")
        var result = [Double](repeating: 0, count: rows * other.columns)
        let width = other.columns, inner = columns
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { out in
                    guard let a = a.baseAddress, let b = b.baseAddress, let out = out.baseAddress else { return }
                    for i in 0..<rows {
                        let outRow = UnsafeMutableRawPointer(out + i * width)
                        for k in 0..<inner {
                            let scale = a[i * inner + k]
                            if scale == 0 { continue }  // ReLU zeros are common
                            Self.addScaled(UnsafeRawPointer(b + k * width), scale, into: outRow, count: width)
                        }
                    }
                }
            }
        }
        return Matrix(rows: rows, columns: other.columns, values: result)
    }

    /// `target[0..<count] += scale * source[0..<count]` over `Double`s.
    @inline(__always)
    private static func addScaled(_ source: UnsafeRawPointer, _ scale: Double, into target: UnsafeMutableRawPointer, count: Int) {
        var j = 0
        let wide = SIMD8<Double>(repeating: scale)
        while j + 8 <= count {
            let sum = target.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
                + wide * source.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
            target.storeBytes(of: sum, toByteOffset: j * 8, as: SIMD8<Double>.self)
            j += 8
        }
        let narrow = SIMD4<Double>(repeating: scale)
        while j + 4 <= count {
            let sum = target.loadUnaligned(fromByteOffset: j * 8, as: SIMD4<Double>.self)
                + narrow * source.loadUnaligned(fromByteOffset: j * 8, as: SIMD4<Double>.self)
            target.storeBytes(of: sum, toByteOffset: j * 8, as: SIMD4<Double>.self)
            j += 4
        }
        while j < count {
            let value = target.load(fromByteOffset: j * 8, as: Double.self) + scale * source.load(fromByteOffset: j * 8, as: Double.self)
            target.storeBytes(of: value, toByteOffset: j * 8, as: Double.self)
            j += 1
        }
    }

    /// `bias` added to every row.
    public func addingRow(_ bias: [Double]) -> Matrix {
        precondition(bias.count == columns)
        var copy = self
        for r in 0..<rows {
            for c in 0..<columns { copy.values[r * columns + c] += bias[c] }
        }
        return copy
    }

    /// The sum of each column (over the rows).
    public var columnSums: [Double] {
        var sums = [Double](repeating: 0, count: columns)
        for r in 0..<rows {
            for c in 0..<columns { sums[c] += values[r * columns + c] }
        }
        return sums
    }
}
