/// Errors of the wire layer: encoding values and messages, and framing.
public enum WireError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Bytes that do not form a valid value or message.
    case malformed(String)
    /// A frame larger than the connection accepts.
    case frameTooLarge(Int, limit: Int)
    /// A frame of a protocol version this build does not speak.
    case unsupportedVersion(UInt8)
    /// A message type this build does not know.
    case unknownMessage(UInt8)
    /// The peer speaks another protocol (HTTP, TLS, SSH): the port is not a swift-ray port, or TLS
    /// is on at one end only.
    case notSwiftRay(String)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed data: \(why)"
        case .frameTooLarge(let size, let limit): "frame of \(size) bytes exceeds the limit of \(limit)"
        case .unsupportedVersion(let version): "unsupported protocol version \(version)"
        case .unknownMessage(let type): "unknown message type \(type)"
        case .notSwiftRay("TLS"): "the peer speaks TLS (is --tls on at one end only?)"
        case .notSwiftRay(let name): "not a swift-ray port (got \(name))"
        }
    }
}
