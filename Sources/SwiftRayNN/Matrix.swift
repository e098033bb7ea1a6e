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

    /// `self · other`: i-k-j order so the inner loop runs over contiguous rows, four lanes at a
    /// time (SIMD), then the tail.
    public func multiplied(by other: Matrix) -> Matrix {
        precondition(columns == other.rows, "cannot multiply \(rows)x\(columns) by \(other.rows)x\(other.columns)")
        var result = [Double](repeating: 0, count: rows * other.columns)
        let width = other.columns, vectorEnd = width & ~3
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { out in
                    for i in 0..<rows {
                        let outRow = i * width
                        for k in 0..<columns {
                            let scale = a[i * columns + k]
                            if scale == 0 { continue }  // ReLU zeros are common
                            let splat = SIMD4<Double>(repeating: scale), bRow = k * width
                            var j = 0
                            while j < vectorEnd {
                                let sum = SIMD4(out[outRow + j], out[outRow + j + 1], out[outRow + j + 2], out[outRow + j + 3])
                                    + splat * SIMD4(b[bRow + j], b[bRow + j + 1], b[bRow + j + 2], b[bRow + j + 3])
                                out[outRow + j] = sum[0]
                                out[outRow + j + 1] = sum[1]
                                out[outRow + j + 2] = sum[2]
                                out[outRow + j + 3] = sum[3]
                                j += 4
                            }
                            while j < width {
                                out[outRow + j] += scale * b[bRow + j]
                                j += 1
                            }
                        }
                    }
                }
            }
        }
        return Matrix(rows: rows, columns: other.columns, values: result)
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
