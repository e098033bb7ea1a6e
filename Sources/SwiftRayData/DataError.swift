/// What goes wrong in a dataset: named so the message says what to fix.
public enum DataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A column the data does not have.
    case unknownColumn(String, available: [String])
    /// A value of the wrong type for an operation.
    case typeMismatch(String)
    /// A file that does not parse.
    case parse(path: String, line: Int, reason: String)
    /// A file or folder that cannot be read or written.
    case io(path: String, reason: String)
    /// A transform type this binary does not have (or that does not conform).
    case unknownFunction(String)
    /// Anything else malformed.
    case invalid(String)

    public var description: String {
        switch self {
        case .unknownColumn(let name, let available): "no column named '\(name)' (the data has \(available))"
        case .typeMismatch(let reason): "type mismatch: \(reason)"
        case .parse(let path, let line, let reason): "\(path), line \(line): \(reason)"
        case .io(let path, let reason): "\(path): \(reason)"
        case .unknownFunction(let name): "no transform type \(name) in this binary (is it a Codable type conforming to the protocol?)"
        case .invalid(let reason): reason
        }
    }
}
