import Foundation
import SwiftRay

/// A deployment's `user_config`: any JSON value, handed to each replica's `reconfigure` when it
/// starts and again whenever the application is redeployed with another one (without restarting
/// the replica).
public struct UserConfig: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The value as JSON text.
    public let json: String

    /// `value` encoded as JSON.
    public init<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        json = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A config file's `user_config`.
    public init(_ value: JSONValue) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        json = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// JSON text as it is.
    /// - Throws: `ServeError` when it is not JSON.
    public init(json: String) throws {
        guard (try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ServeError("a user_config is JSON, not \(json.prefix(80))")
        }
        self.json = json
    }

    /// The value decoded as `T`.
    /// - Throws: `ServeError` naming `T` when it is not that JSON.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(json.utf8))
        } catch {
            throw ServeError("the user_config is not a \(T.self): \(error)")
        }
    }

    public var description: String { json }
}

/// A deployment that takes a `UserConfig` (Ray's `reconfigure` method): called on each new replica
/// before it serves, and on every running replica when the application is redeployed with another
/// `userConfig`, which then changes without a restart. Adopt it beside `Deployment` (or
/// `StreamingDeployment`).
///
/// ```swift
/// distributed func reconfigure(_ config: UserConfig) throws { threshold = try config.decode(Settings.self).threshold }
/// ```
public protocol ReconfigurableDeployment: RayActor {
    distributed func reconfigure(_ config: UserConfig) async throws
}

/// A deployment with its own health check (Ray's `check_health`): called every
/// `healthCheckPeriod`; a replica that throws, or does not answer within `healthCheckTimeout`, is
/// taken out of the rotation, killed and replaced.
public protocol HealthCheckedDeployment: RayActor {
    distributed func checkHealth() async throws
}

/// What Serve does with one replica besides sending it requests.
struct ReplicaControl: Sendable {
    /// Applies a user config (nil: the deployment has no `reconfigure`).
    let reconfigure: (@Sendable (UserConfig) async throws -> Void)?
    /// Throws when the replica is unhealthy (a dead actor throws `ActorDiedError`).
    let checkHealth: (@Sendable () async throws -> Void)?
    /// Kills the replica's actor.
    let kill: @Sendable () -> Void

    static func of<D: RayActor>(_ replica: D) -> ReplicaControl {
        var reconfigure: (@Sendable (UserConfig) async throws -> Void)?
        var checkHealth: (@Sendable () async throws -> Void)?
        if let reconfigurable = replica as? any ReconfigurableDeployment { reconfigure = reconfigureCall(reconfigurable) }
        if let checked = replica as? any HealthCheckedDeployment { checkHealth = healthCall(checked) }
        return ReplicaControl(reconfigure: reconfigure, checkHealth: checkHealth, kill: { try? ray.kill(replica) })
    }

    private static func reconfigureCall<R: ReconfigurableDeployment>(_ replica: R) -> @Sendable (UserConfig) async throws -> Void {
        { config in try await replica.reconfigure(config) }
    }

    private static func healthCall<H: HealthCheckedDeployment>(_ replica: H) -> @Sendable () async throws -> Void {
        { try await replica.checkHealth() }
    }
}
