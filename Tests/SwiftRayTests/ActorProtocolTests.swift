import Foundation
import SwiftRay
import XCTest

/// Actors of different types answering one protocol's distributed requirement (what a serving
/// proxy routing to any deployment needs).
protocol Greeter: DistributedActor where ActorSystem == RayActorSystem {
    distributed func greet(_ name: String) async throws -> String
}

@RayActor
distributed actor EnglishGreeter: Greeter {
    distributed func greet(_ name: String) -> String { "hello \(name) from \(getpid())" }
}

@RayActor
distributed actor FrenchGreeter: Greeter {
    distributed func greet(_ name: String) -> String { "bonjour \(name)" }
}

/// Calls the requirement through a generic constraint, as library code that knows only the protocol.
func greetThroughProtocol<G: Greeter>(_ greeter: G, _ name: String) async throws -> String {
    try await greeter.greet(name)
}

final class ActorProtocolTests: RayTestCase {
    func testDistributedProtocolRequirementsReachEachActorType() async throws {
        let english = try await ray.actor(EnglishGreeter.self)
        let french = try await ray.actor(FrenchGreeter.self)
        let first = try await greetThroughProtocol(english, "ray")
        XCTAssertTrue(first.hasPrefix("hello ray from "))
        XCTAssertNotEqual(first, "hello ray from \(getpid())", "answered by the actor's own process")
        let second = try await greetThroughProtocol(french, "ray")
        XCTAssertEqual(second, "bonjour ray")
        // Type-erased, as a router holding replicas of several deployments would.
        let routes: [String: @Sendable (String) async throws -> String] = [
            "/en": { try await greetThroughProtocol(english, $0) }, "/fr": { try await greetThroughProtocol(french, $0) },
        ]
        let routed = try await routes["/fr"]!("serve")
        XCTAssertEqual(routed, "bonjour serve")
    }
}
