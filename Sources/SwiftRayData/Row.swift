/// One row of a dataset: column names and their values, in order (Ray Data's row dictionaries).
public struct Row: Sendable, Hashable, CustomStringConvertible, ExpressibleByDictionaryLiteral {
    public private(set) var names: [String]
    public private(set) var values: [Value]

    public init(names: [String], values: [Value]) {
        precondition(names.count == values.count, "a row needs a value per column")
        self.names = names
        self.values = values
    }

    public init(dictionaryLiteral elements: (String, Value)...) {
        self.init(names: elements.map(\.0), values: elements.map(\.1))
    }

    /// The value of column `name` (null when there is no such column); setting a new name adds it.
    public subscript(name: String) -> Value {
        get { names.firstIndex(of: name).map { values[$0] } ?? .null }
        set {
            if let index = names.firstIndex(of: name) {
                values[index] = newValue
            } else {
                names.append(name)
                values.append(newValue)
            }
        }
    }

    /// Removes column `name` if present.
    public mutating func remove(_ name: String) {
        guard let index = names.firstIndex(of: name) else { return }
        names.remove(at: index)
        values.remove(at: index)
    }

    public var description: String {
        "{" + zip(names, values).map { name, value in
            if case .string(let s) = value { "\"\(name)\": \"\(s)\"" } else { "\"\(name)\": \(value)" }
        }.joined(separator: ", ") + "}"
    }
}
