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

/// A driver's connection to its cluster's head closed (the head crashed, was stopped or cannot be
/// reached): every request of the session fails with this, at once. The session cannot be resumed:
/// shut down and start again to join the cluster once its head is back.
public struct HeadConnectionLostError: Error, CustomStringConvertible, Sendable {
    /// The head's address, `host:port`.
    public let head: String

    public init(head: String) { self.head = head }

    public var description: String {
        "HeadConnectionLostError: lost the connection to the cluster's head at \(head); this driver's session cannot be resumed (its tasks, actors and objects are gone with it): call ray.shutdown() and Ray.start(...) again to join the cluster once its head is back"
    }
}
