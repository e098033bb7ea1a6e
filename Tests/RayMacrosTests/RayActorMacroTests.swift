import RayMacroExpansion
import SwiftSyntaxMacros
import SwiftSyntaxMacrosTestSupport
import XCTest

final class RayActorMacroTests: XCTestCase {
    let macros: [String: any Macro.Type] = ["RayActor": RayActorMacro.self]

    func testGeneratesRemoteCreateAndDispatch() {
        assertMacroExpansion(
            """
            @RayActor
            distributed actor Tally {
                var total = 0
                distributed func add(_ n: Int) -> Int { total += n; return total }
            }
            """,
            expandedSource: """
            distributed actor Tally {
                var total = 0
                distributed func add(_ n: Int) -> Int { total += n; return total }

                typealias ActorSystem = SwiftRay.RayActorSystem

                /// Submits calls on a `Tally` and returns their refs (or a streaming method's
                /// generator) at once.
                struct Remote: Sendable {
                    let actor: Tally
                    /// For streaming methods: untaken items at which the producer pauses (nil: never).
                    var generatorBackpressure: Int? = nil
                    /// These calls with streaming methods' backpressure set (Ray's `_generator_backpressure_num_objects`).
                    func options(generatorBackpressure: Int?) -> Remote {
                        var copy = self
                        copy.generatorBackpressure = generatorBackpressure
                        return copy
                    }
                    @discardableResult
                    func add(_ a0: Int) -> SwiftRay.ObjectRef<Int> {
                        SwiftRay.RayActorCalls.submit(actor, method: "add(_:)", name: "Tally.add", arguments: [SwiftRay.TaskArgument(value: a0)])
                    }
                    @discardableResult
                    func add(_ a0: SwiftRay.ObjectRef<Int>) -> SwiftRay.ObjectRef<Int> {
                        SwiftRay.RayActorCalls.submit(actor, method: "add(_:)", name: "Tally.add", arguments: [SwiftRay.TaskArgument(ref: a0)])
                    }
                }

                /// Calls that return an `ObjectRef` at once: `actor.remote.method(...)`.
                nonisolated var remote: Remote {
                    Remote(actor: self)
                }

                static var _rayDefaultMaxConcurrency: Int {
                    1
                }

                static let _rayMethodKeys: Set<String> = ["add(_:)"]

                /// Creates a `Tally` in a new worker process with `init(actorSystem:)`.
                static func create(options: SwiftRay.ActorOptions = SwiftRay.ActorOptions()) async throws -> Tally {
                    try await SwiftRay.RayActorCalls.create(Tally.self, initializer: "init(actorSystem:)", arguments: [], options: options)
                }

                static func _rayCreate(initializer: String, system: SwiftRay.RayActorSystem, arguments: inout SwiftRay.TaskArguments) async throws -> Tally {
                    switch initializer {
                    case "init(actorSystem:)":
                        return Tally(actorSystem: system)
                    default:
                        throw SwiftRay.RayActorCalls.unknownMethod(initializer, of: Tally.self)
                    }
                }

                static func _rayDispatch(_ actor: isolated Tally, method: String, arguments: SwiftRay.TaskArguments) async throws -> SwiftRay.ObjectPayload {
                    var arguments = arguments
                    switch method {
                    case "add(_:)":
                        let a0 = try arguments.next(Int.self)
                        return SwiftRay.RayActorCalls.encode(actor.add(a0))
                    default:
                        throw SwiftRay.RayActorCalls.unknownMethod(method, of: Tally.self)
                    }
                }
            }

            extension Tally: SwiftRay.RayActor {
            }
            """,
            macros: macros)
    }

    func testRejectsNonDistributedActors() {
        assertMacroExpansion(
            "@RayActor actor Plain {}",
            expandedSource: "actor Plain {}",
            diagnostics: [DiagnosticSpec(message: "@RayActor applies to a distributed actor", line: 1, column: 1)],
            macros: macros)
    }
}
