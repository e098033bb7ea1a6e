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

/// A driver lost its cluster's head (it crashed, was stopped or cannot be reached) and no head took
/// its session back within the wait (`waited`; nil: the driver does not wait, or shut down): every
/// open and later request of the session fails with this. Shut down and start again to join the
/// cluster once its head is back.
public struct HeadConnectionLostError: Error, CustomStringConvertible, Sendable {
    /// The head's address, `host:port`.
    public let head: String
    /// How long the driver waited for a restarted head to take its session back.
    public let waited: Duration?

    public init(head: String, waited: Duration? = nil) {
        self.head = head
        self.waited = waited
    }

    public var description: String {
        let wait = waited.map { " and no head took this driver's session back within \($0)" } ?? ""
        return "HeadConnectionLostError: lost the connection to the cluster's head at \(head)\(wait); this driver's session cannot be resumed (its tasks, actors and objects are gone with it): call ray.shutdown() and Ray.start(...) again to join the cluster once its head is back"
    }
}
