import Logging

/// The runtime's logger. Every rejected input, dead process or failed request gets a line here.
package enum RayLog {
    /// The shared logger, label `swiftray`. Level from `SWIFTRAY_LOG_LEVEL` (default `info`).
    package static let logger: Logger = {
        var logger = Logger(label: "swiftray")
        let name = getenvString("SWIFTRAY_LOG_LEVEL") ?? "info"
        logger.logLevel = Logger.Level(rawValue: name) ?? .info
        return logger
    }()
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An environment variable, or nil.
package func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
