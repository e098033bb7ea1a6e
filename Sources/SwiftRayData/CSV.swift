#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How CSV files are read and written.
public struct CSVOptions: Codable, Sendable, Equatable {
    /// The field separator (one ASCII character).
    public var delimiter: Character
    /// Whether the first line names the columns (otherwise `columnNames`, or `column0`, ...).
    public var header: Bool
    /// Names for files without a header.
    public var columnNames: [String]?
    /// Types for some columns; the rest are inferred (integers, then doubles, then Booleans, else strings).
    public var schema: [String: DataType]

    public init(delimiter: Character = ",", header: Bool = true, columnNames: [String]? = nil, schema: [String: DataType] = [:]) {
        self.delimiter = delimiter
        self.header = header
        self.columnNames = columnNames
        self.schema = schema
    }

    var delimiterByte: UInt8 { delimiter.asciiValue ?? UInt8(ascii: ",") }
}

extension Character: @retroactive Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let first = text.first, text.count == 1 else { throw DataError.invalid("'\(text)' is not one character") }
        self = first
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(self))
    }
}

/// Parses CSV text (RFC 4180: quoted fields with `""` for a quote, CRLF or LF line ends) into a
/// block: fields are located in one pass, then each column is typed and converted in one pass.
struct CSVParser {
    let options: CSVOptions
    let path: String
    private let delimiter: UInt8

    init(options: CSVOptions, path: String) {
        self.options = options
        self.path = path
        delimiter = options.delimiterByte
    }

    /// Where each field of one column lies in the text: in `spans` (start, end pairs of every
    /// converted field, row after row), pair `offset` of every `stride`.
    private struct FieldSpans {
        let spans: [UInt32]
        let stride: Int
        let offset: Int
        /// Whether any quoted field holds `""` (to unescape).
        var escaped = false
        /// Quoted fields are never null, even when empty.
        var quoted: [Int] = []

        @inline(__always) func start(_ row: Int) -> Int { Int(spans[(row * stride + offset) * 2]) }
        @inline(__always) func end(_ row: Int) -> Int { Int(spans[(row * stride + offset) * 2 + 1]) }
    }

    /// Parses `text`; `names` are the columns when the text has no header line of its own (a later
    /// split of a file). `firstLine` numbers lines in errors.
    /// Only the columns in `keep` are converted (all when nil): a chain that reads three columns of
    /// five pays for three.
    func parse(_ text: UnsafeBufferPointer<UInt8>, names given: [String]?, firstLine: Int = 1, keep: Set<String>? = nil) throws -> Block {
        guard text.count < Int(UInt32.max) else { throw DataError.io(path: path, reason: "a block over 4 GiB; split the file") }
        var position = 0
        var line = firstLine
        var names = given ?? options.columnNames
        if names == nil {
            // The first line names the columns, or (no header) says how many there are.
            var fields: [String] = []
            var probe = position
            try scanRecord(text, &probe, line: line) { start, end, escaped, _ in fields.append(Self.string(text, start, end, escaped)) }
            if options.header { position = probe; line += 1 }
            names = options.header ? fields : (0..<fields.count).map { "column\($0)" }
        }
        let allNames = names ?? []
        let wanted = allNames.map { keep?.contains($0) ?? true }
        // Where each column's spans go in a row: its rank among the wanted, or -1.
        var slot = [Int](repeating: -1, count: allNames.count)
        var kept: [Int] = []
        for (index, want) in wanted.enumerated() where want { slot[index] = kept.count; kept.append(index) }
        var spans: [UInt32] = []
        spans.reserveCapacity((text.count - position) / max(1, 4 * allNames.count) * kept.count + 16)
        var escaped = [Bool](repeating: false, count: kept.count)
        var quoted = [[Int]](repeating: [], count: kept.count)
        let columnCount = allNames.count
        var rows = 0
        while position < text.count {
            var field = 0
            let mark = spans.count
            try scanRecord(text, &position, line: line) { start, end, isEscaped, isQuoted in
                guard field < columnCount else {
                    throw DataError.parse(path: path, line: line, reason: "more fields than the \(columnCount) columns")
                }
                let rank = slot[field]
                if rank >= 0 {
                    spans.append(UInt32(truncatingIfNeeded: start))
                    spans.append(UInt32(truncatingIfNeeded: end))
                    if isEscaped { escaped[rank] = true }
                    if isQuoted { quoted[rank].append(rows) }
                }
                field += 1
            }
            if field == 1, columnCount > 1, position > 0, text[position - 1] == 10, Self.blank(text, before: position) {
                spans.removeLast(spans.count - mark)  // a blank line: skipped
                line += 1
                continue
            }
            guard field == columnCount else {
                throw DataError.parse(path: path, line: line, reason: "\(field) fields, the header has \(columnCount)")
            }
            rows += 1
            line += 1
        }
        let typed = try kept.enumerated().map { rank, index in
            let fieldSpans = FieldSpans(spans: spans, stride: kept.count, offset: rank, escaped: escaped[rank], quoted: quoted[rank])
            return try column(text, fieldSpans, rows: rows, type: options.schema[allNames[index]], name: allNames[index])
        }
        return try Block(names: kept.map { allNames[$0] }, columns: typed)
    }

    /// Reads one record from `position`, calling `field` with each field's span (inside quotes when
    /// quoted), and leaves `position` after the line end.
    private func scanRecord(
        _ text: UnsafeBufferPointer<UInt8>, _ position: inout Int, line: Int, field: (Int, Int, Bool, Bool) throws -> Void
    ) throws {
        let delimiter = self.delimiter
        let quote = UInt8(ascii: "\""), newline = UInt8(ascii: "\n"), carriage = UInt8(ascii: "\r")
        var i = position
        let end = text.count
        while true {
            if i < end, text[i] == quote {
                let start = i + 1
                var j = start
                var escaped = false
                while true {
                    guard j < end else { throw DataError.parse(path: path, line: line, reason: "a quoted field is never closed") }
                    if text[j] == quote {
                        if j + 1 < end, text[j + 1] == quote { escaped = true; j += 2; continue }
                        break
                    }
                    j += 1
                }
                try field(start, j, escaped, true)
                i = j + 1
                if i < end, text[i] == carriage { i += 1 }
                guard i >= end || text[i] == delimiter || text[i] == newline else {
                    throw DataError.parse(path: path, line: line, reason: "text after a closing quote")
                }
            } else {
                let start = i
                while i < end, text[i] != delimiter, text[i] != newline { i += 1 }
                var stop = i
                if stop > start, text[stop - 1] == carriage { stop -= 1 }
                try field(start, stop, false, false)
            }
            if i >= end { position = end; return }
            if text[i] == newline { position = i + 1; return }
            i += 1  // the delimiter
        }
    }

    /// Whether the line ending just before `position` is empty (or only a carriage return).
    private static func blank(_ text: UnsafeBufferPointer<UInt8>, before position: Int) -> Bool {
        var i = position - 2
        if i >= 0, text[i] == 13 { i -= 1 }
        return i < 0 || text[i] == 10
    }

    private static func string(_ text: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ escaped: Bool) -> String {
        let raw = String(decoding: UnsafeBufferPointer(rebasing: text[start..<end]), as: UTF8.self)
        return escaped ? raw.replacingOccurrences(of: "\"\"", with: "\"") : raw
    }

    /// One column typed (as `type`, or inferred) and converted. Empty unquoted fields are null.
    private func column(_ text: UnsafeBufferPointer<UInt8>, _ spans: FieldSpans, rows: Int, type: DataType?, name: String) throws -> Column {
        var valid = [Bool](repeating: true, count: rows)
        for i in 0..<rows where spans.start(i) == spans.end(i) { valid[i] = false }
        for i in spans.quoted { valid[i] = true }
        let validity = valid.contains(false) ? valid : nil
        let field = { (i: Int) in UnsafeBufferPointer(rebasing: text[spans.start(i)..<spans.end(i)]) }
        func fail(_ wanted: DataType) -> DataError {
            let row = (0..<rows).first { (validity?[$0] ?? true) && Self.number(field($0), as: wanted) == nil } ?? 0
            return .parse(path: path, line: row + 1, reason: "column \(name): '\(String(decoding: field(row), as: UTF8.self))' is not \(wanted)")
        }
        func typed<T>(_ parse: (UnsafeBufferPointer<UInt8>) -> T?, _ zero: T) -> [T]? {
            var values = [T](repeating: zero, count: rows)
            for i in 0..<rows where validity?[i] ?? true {
                guard let v = parse(field(i)) else { return nil }
                values[i] = v
            }
            return values
        }
        if type == nil || type == .int64 {
            if let values = typed(Self.int, 0) { return Column(.int64(values), validity: validity) }
            if type == .int64 { throw fail(.int64) }
        }
        if type == nil || type == .double {
            if let values = typed(Self.double, 0) { return Column(.double(values), validity: validity) }
            if type == .double { throw fail(.double) }
        }
        if type == nil || type == .bool {
            if let values = typed(Self.bool, false) { return Column(.bool(values), validity: validity) }
            if type == .bool { throw fail(.bool) }
        }
        var storage = StringStorage()
        storage.reserve(strings: rows, bytes: (0..<rows).reduce(0) { $0 + spans.end($1) - spans.start($1) })
        for i in 0..<rows {
            if spans.escaped {
                storage.append(Self.string(text, spans.start(i), spans.end(i), true))
            } else {
                storage.append(utf8: UnsafeRawBufferPointer(field(i)))
            }
        }
        return Column(.string(storage), validity: validity)
    }

    private static func number(_ field: UnsafeBufferPointer<UInt8>, as type: DataType) -> Any? {
        switch type {
        case .int64: int(field)
        case .double: double(field)
        case .bool: bool(field)
        default: ""
        }
    }

    /// A decimal integer, or nil (also on overflow).
    static func int(_ field: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        var negative = false
        if i < field.count, field[i] == UInt8(ascii: "-") || field[i] == UInt8(ascii: "+") { negative = field[i] == UInt8(ascii: "-"); i += 1 }
        guard i < field.count else { return nil }
        var value: Int64 = 0
        while i < field.count {
            let digit = field[i] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (plus, o2) = negative ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { return nil }
            value = plus
            i += 1
        }
        return value
    }

    private static let powers: [Double] = (0...22).map { pow(10, Double($0)) }

    /// A decimal number: exact fast path for up to 15 significant digits and small exponents
    /// (Clinger's), `strtod` otherwise.
    static func double(_ field: UnsafeBufferPointer<UInt8>) -> Double? {
        var i = 0
        var negative = false
        let n = field.count
        if i < n, field[i] == UInt8(ascii: "-") || field[i] == UInt8(ascii: "+") { negative = field[i] == UInt8(ascii: "-"); i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0, scale = 0
        var sawDigit = false
        while i < n, case let d = field[i] &- UInt8(ascii: "0"), d < 10 { mantissa = mantissa &* 10 &+ UInt64(d); digits += 1; sawDigit = true; i += 1 }
        if i < n, field[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, case let d = field[i] &- UInt8(ascii: "0"), d < 10 {
                mantissa = mantissa &* 10 &+ UInt64(d); digits += 1; scale -= 1; sawDigit = true; i += 1
            }
        }
        var exponent = 0
        if sawDigit, i < n, field[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var expNegative = false
            if i < n, field[i] == UInt8(ascii: "-") || field[i] == UInt8(ascii: "+") { expNegative = field[i] == UInt8(ascii: "-"); i += 1 }
            var sawExp = false
            while i < n, case let d = field[i] &- UInt8(ascii: "0"), d < 10, exponent < 10_000 { exponent = exponent * 10 + Int(d); sawExp = true; i += 1 }
            guard sawExp else { return slow(field) }
            if expNegative { exponent = -exponent }
        }
        guard sawDigit, i == n else { return slow(field) }
        let power = scale + exponent
        if digits <= 19, mantissa <= 1 << 53, abs(power) <= 22 {
            let value = power < 0 ? Double(mantissa) / powers[-power] : Double(mantissa) * powers[power]
            return negative ? -value : value
        }
        #if arch(x86_64)
        // 16 to 19 digits: exact in 80-bit arithmetic (64-bit significand; powers of ten to 10^27
        // are exact), then rounded to a Double, unless the 80-bit result sits next to a halfway
        // point between two Doubles, where rounding twice could differ from rounding once.
        if digits <= 19, abs(power) <= 27 {
            let wide = power < 0 ? Float80(mantissa) / widePowers[-power] : Float80(mantissa) * widePowers[power]
            let low = wide.significandBitPattern & 0x7FF
            if low < 0x3FF || low > 0x401 { return negative ? -Double(wide) : Double(wide) }
        }
        #endif
        return slow(field)
    }

    #if arch(x86_64)
    private static let widePowers: [Float80] = (0...27).map { exponent in (0..<exponent).reduce(Float80(1)) { product, _ in product * 10 } }
    #endif

    private static func slow(_ field: UnsafeBufferPointer<UInt8>) -> Double? {
        guard !field.isEmpty, field.count < 64 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> Double? in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(field))
            buffer[field.count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(buffer.baseAddress!, &end)
            return end == buffer.baseAddress! + field.count ? value : nil
        }
    }

    static func bool(_ field: UnsafeBufferPointer<UInt8>) -> Bool? {
        switch String(decoding: field, as: UTF8.self).lowercased() {
        case "true": true
        case "false": false
        default: nil
        }
    }
}

/// Writes blocks as CSV: a header line, then one line per row; fields with the delimiter, a quote
/// or a line end are quoted; nulls are empty fields.
enum CSVWriter {
    static func text(_ block: Block, options: CSVOptions) -> [UInt8] {
        let delimiter = options.delimiterByte
        var out: [UInt8] = []
        out.reserveCapacity(block.byteCount + block.rowCount * block.names.count * 2 + 64)
        if options.header {
            for (i, name) in block.names.enumerated() {
                if i > 0 { out.append(delimiter) }
                appendField(Array(name.utf8), delimiter, &out)
            }
            out.append(UInt8(ascii: "\n"))
        }
        for row in 0..<block.rowCount {
            for (i, column) in block.columns.enumerated() {
                if i > 0 { out.append(delimiter) }
                if column.isNull(row) { continue }
                switch column.storage {
                case .int64(let v): out.append(contentsOf: String(v[row]).utf8)
                case .double(let v): out.append(contentsOf: v[row].description.utf8)
                case .bool(let v): out.append(contentsOf: (v[row] ? "true" : "false").utf8)
                case .string(let s): s.withUTF8(row) { appendField($0, delimiter, &out) }
                case .floatVector: appendField(Array(column[row].description.utf8), delimiter, &out)
                }
            }
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    private static func appendField<C: Collection<UInt8>>(_ bytes: C, _ delimiter: UInt8, _ out: inout [UInt8]) {
        let quote = UInt8(ascii: "\"")
        guard bytes.contains(where: { $0 == delimiter || $0 == quote || $0 == 10 || $0 == 13 }) || bytes.isEmpty else {
            out.append(contentsOf: bytes)
            return
        }
        out.append(quote)
        for byte in bytes {
            if byte == quote { out.append(quote) }
            out.append(byte)
        }
        out.append(quote)
    }
}
