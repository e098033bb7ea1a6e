import SwiftSyntax
import SwiftSyntaxBuilder
import SwiftSyntaxMacros

/// `@RayActor distributed actor A { ... }`: sets `ActorSystem`, conforms `A` to `SwiftRay.RayActor`,
/// and writes `remote` (calls that return refs), `create(...)` per initializer, and the name-based
/// construction and dispatch a worker uses.
public struct RayActorMacro: MemberMacro, ExtensionMacro {
    public static func expansion(
        of node: AttributeSyntax, providingMembersOf declaration: some DeclGroupSyntax,
        conformingTo protocols: [TypeSyntax], in context: some MacroExpansionContext
    ) throws -> [DeclSyntax] {
        let shape = try RayActorShape(declaration)
        return shape.members().map { DeclSyntax(stringLiteral: $0) }
    }

    public static func expansion(
        of node: AttributeSyntax, attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol, conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        guard let actor = declaration.as(ActorDeclSyntax.self),
              actor.modifiers.contains(where: { $0.name.text == "distributed" }) else { return [] }
        return [try ExtensionDeclSyntax("extension \(type.trimmed): SwiftRay.RayActor {}")]
    }
}

/// What the macro reads off the actor: its name, distributed methods and initializers.
struct RayActorShape {
    typealias Method = FunctionShape

    struct Initializer {
        let parameters: [Parameter]
        let isAsync: Bool
        let isThrowing: Bool
        var key: String { Parameter.key("init", parameters) }
        var systemIndex: Int? { parameters.firstIndex { $0.label == "actorSystem" } }
    }

    let typeName: String
    let access: String
    let declaresActorSystem: Bool
    let methods: [Method]
    let initializers: [Initializer]

    init(_ declaration: some DeclGroupSyntax) throws {
        guard let actor = declaration.as(ActorDeclSyntax.self),
              actor.modifiers.contains(where: { $0.name.text == "distributed" }) else {
            throw MacroError("@RayActor applies to a distributed actor")
        }
        typeName = actor.name.text
        access = Generated.access(actor.modifiers)
        let members = actor.memberBlock.members.map(\.decl)
        declaresActorSystem = members.contains { $0.as(TypeAliasDeclSyntax.self)?.name.text == "ActorSystem" }
        methods = try members.compactMap { decl -> Method? in
            guard let function = decl.as(FunctionDeclSyntax.self), Self.isCallable(function) else { return nil }
            let parameters = try Parameter.list(
                function.signature.parameterClause, generics: function.genericParameterClause, what: "@RayActor methods")
            return Method(function, parameters: parameters)
        }
        let declared = try members.compactMap { decl -> Initializer? in
            guard let initializer = decl.as(InitializerDeclSyntax.self) else { return nil }
            let parameters = try Parameter.list(
                initializer.signature.parameterClause, generics: initializer.genericParameterClause, what: "@RayActor initializers")
            guard parameters.contains(where: { $0.label == "actorSystem" }) else { return nil }
            return Initializer(parameters: parameters, isAsync: initializer.signature.effectSpecifiers?.asyncSpecifier != nil,
                               isThrowing: initializer.signature.effectSpecifiers?.throwsClause != nil)
        }
        // With no initializer, Swift synthesizes `init(actorSystem:)`.
        initializers = declared.isEmpty && !members.contains(where: { $0.is(InitializerDeclSyntax.self) })
            ? [Initializer(parameters: [Parameter(label: "actorSystem", type: "SwiftRay.RayActorSystem")], isAsync: false, isThrowing: false)]
            : declared
    }

    /// Distributed instance methods, and those with several results or a stream: a tuple or an
    /// async sequence is no distributed result (it is not `Codable`), so such a method is a plain,
    /// non-private one.
    private static func isCallable(_ function: FunctionDeclSyntax) -> Bool {
        let modifiers = Set(function.modifiers.map(\.name.text))
        guard !modifiers.contains("static") else { return false }
        if modifiers.contains("distributed") { return true }
        let remoteOnly = StreamingResult.element(of: function.signature) != nil || !TupleResult.elements(of: function.signature).isEmpty
        return remoteOnly && modifiers.isDisjoint(with: ["private", "fileprivate"])
    }

    func members() -> [String] {
        var members: [String] = []
        if !declaresActorSystem { members.append("\(access)typealias ActorSystem = SwiftRay.RayActorSystem") }
        members.append(remoteType())
        members.append("""
            /// Calls that return an `ObjectRef` at once: `actor.remote.method(...)`.
            \(access)nonisolated var remote: Remote { Remote(actor: self) }
            """)
        members.append("\(access)static var _rayDefaultMaxConcurrency: Int { \(methods.contains(where: \.isAsync) ? 1000 : 1) }")
        members.append("\(access)static let _rayMethodKeys: Set<String> = [\(methods.map { "\"\($0.key)\"" }.joined(separator: ", "))]")
        members += initializers.map(createFunction)
        members.append(createDispatch())
        members.append(methodDispatch())
        return members
    }

    private func remoteType() -> String {
        let functions = methods.flatMap { method in
            Generated.argumentMixes(method.parameters).map { mix in
                if let element = method.streamElement {
                    return """
                        \(access)func \(method.name)(\(mix.declared)) -> SwiftRay.ObjectRefGenerator<\(element)> {
                            SwiftRay.RayActorCalls.submitStream(
                                actor, method: "\(method.key)", name: "\(typeName).\(method.name)", arguments: \(mix.wrapped),
                                backpressure: generatorBackpressure)
                        }
                    """
                }
                if !method.results.isEmpty {
                    return """
                        @discardableResult
                        \(access)func \(method.name)(\(mix.declared)) -> \(TupleResult.refsType(method.results)) {
                            let ids = SwiftRay.RayActorCalls.submitReturns(
                                actor, method: "\(method.key)", name: "\(typeName).\(method.name)", arguments: \(mix.wrapped),
                                count: \(method.results.count))
                            return \(TupleResult.refs(method.results))
                        }
                    """
                }
                return """
                    @discardableResult
                    \(access)func \(method.name)(\(mix.declared)) -> SwiftRay.ObjectRef<\(method.output)> {
                        SwiftRay.RayActorCalls.submit(actor, method: "\(method.key)", name: "\(typeName).\(method.name)", arguments: \(mix.wrapped))
                    }
                """
            }
        }
        return """
            /// Submits calls on a `\(typeName)` and returns their refs (or a streaming method's
            /// generator) at once.
            \(access)struct Remote: Sendable {
                \(access)let actor: \(typeName)
                /// For streaming methods: untaken items at which the producer pauses (nil: never).
                \(access)var generatorBackpressure: Int? = nil
                /// These calls with streaming methods' backpressure set (Ray's `_generator_backpressure_num_objects`).
                \(access)func options(generatorBackpressure: Int?) -> Remote {
                    var copy = self
                    copy.generatorBackpressure = generatorBackpressure
                    return copy
                }
            \(functions.joined(separator: "\n"))
            }
            """
    }

    /// `static func create(args..., options:)`: creates the actor with this initializer.
    private func createFunction(_ initializer: Initializer) -> String {
        let system = initializer.systemIndex
        let userParameters = initializer.parameters.indices.filter { $0 != system }
        let declared = userParameters.map { "\(initializer.parameters[$0].label) a\($0): \(initializer.parameters[$0].type)" }
            + ["options: SwiftRay.ActorOptions = SwiftRay.ActorOptions()"]
        let wrapped = userParameters.map { "SwiftRay.TaskArgument(value: a\($0))" }.joined(separator: ", ")
        return """
            /// Creates a `\(typeName)` in a new worker process with `\(initializer.key)`.
            \(access)static func create(\(declared.joined(separator: ", "))) async throws -> \(typeName) {
                try await SwiftRay.RayActorCalls.create(\(typeName).self, initializer: "\(initializer.key)", arguments: [\(wrapped)], options: options)
            }
            """
    }

    private func createDispatch() -> String {
        let cases = initializers.map { initializer -> String in
            let system = initializer.systemIndex.map { Set([$0]) } ?? []
            let decode = Generated.decodeArguments(initializer.parameters, indent: "        ", skipping: system)
            let replaced = initializer.systemIndex.map { [$0: "system"] } ?? [:]
            let effects = (initializer.isThrowing ? "try " : "") + (initializer.isAsync ? "await " : "")
            return (["    case \"\(initializer.key)\":"] + decode
                + ["        return \(effects)\(typeName)(\(Generated.forward(initializer.parameters, replacing: replaced)))"])
                .joined(separator: "\n")
        }
        return """
            \(access)static func _rayCreate(initializer: String, system: SwiftRay.RayActorSystem, arguments: inout SwiftRay.TaskArguments) async throws -> \(typeName) {
                switch initializer {
            \(cases.joined(separator: "\n"))
                default:
                    throw SwiftRay.RayActorCalls.unknownMethod(initializer, of: \(typeName).self)
                }
            }
            """
    }

    /// Runs a method isolated to the (local) actor.
    private func methodDispatch() -> String {
        let cases = methods.map { method -> String in
            var lines = ["    case \"\(method.key)\":"] + Generated.decodeArguments(method.parameters, indent: "        ")
            let effects = (method.isThrowing ? "try " : "") + (method.isAsync ? "await " : "")
            let call = "\(effects)actor.\(method.name)(\(Generated.forward(method.parameters)))"
            if method.streamElement != nil {
                lines.append("        return SwiftRay.RayActorCalls.encode(try await SwiftRay._StreamEnd.produce(\(call)))")
            } else if !method.results.isEmpty {
                lines += ["        let results = \(call)", "        return SwiftRay.RayActorCalls.encodeReturns(\(TupleResult.wrapped(method.results)))"]
            } else if method.returnsVoid {
                lines += ["        \(call)", "        return SwiftRay.RayActorCalls.encode(SwiftRay.RayVoid())"]
            } else {
                lines.append("        return SwiftRay.RayActorCalls.encode(\(call))")
            }
            return lines.joined(separator: "\n")
        }
        let takesArguments = methods.contains { !$0.parameters.isEmpty }
        return """
            \(access)static func _rayDispatch(_ actor: isolated \(typeName), method: String, arguments: SwiftRay.TaskArguments) async throws -> SwiftRay.ObjectPayload {
            \(takesArguments ? "    var arguments = arguments" : "")
                switch method {
            \(cases.joined(separator: "\n"))
                default:
                    throw SwiftRay.RayActorCalls.unknownMethod(method, of: \(typeName).self)
                }
            }
            """
    }
}
