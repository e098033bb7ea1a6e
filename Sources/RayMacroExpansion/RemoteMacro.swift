import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxBuilder
import SwiftSyntaxMacros

/// `@Remote func f(...)` adds a peer type `$f` conforming to `SwiftRay.RemoteFunction`:
/// `$f.remote(...)` submits a task and returns `ObjectRef<Result>`, each argument given either as a
/// value or as an `ObjectRef` of its type; `$f.options(...)` sets task options. Workers find `$f` by
/// its mangled name, so no registration is needed. A tuple result gives a tuple of refs; an async
/// sequence result (see `StreamingResult`) gives an `ObjectRefGenerator` of its elements.
public struct RemoteMacro: PeerMacro {
    public static func expansion(
        of node: AttributeSyntax,
        providingPeersOf declaration: some DeclSyntaxProtocol,
        in context: some MacroExpansionContext
    ) throws -> [DeclSyntax] {
        guard let function = declaration.as(FunctionDeclSyntax.self) else {
            throw MacroError("@Remote applies to functions")
        }
        let parameters = try Parameter.list(
            function.signature.parameterClause, generics: function.genericParameterClause, what: "@Remote functions")
        return [DeclSyntax(stringLiteral: RemoteFunctionShape(function: function, parameters: parameters).peerType())]
    }
}

/// What the macro reads off the function: name, parameters, result, effects, access.
struct RemoteFunctionShape {
    let name: String
    let parameters: [Parameter]
    let output: String
    let returnsVoid: Bool
    let isAsync: Bool
    let isThrowing: Bool
    let access: String
    /// The elements of a tuple result (label, type): each becomes its own object and ref.
    let results: [(label: String?, type: String)]
    /// The item type of a streaming function (one returning an async sequence).
    let streamElement: String?

    init(function: FunctionDeclSyntax, parameters: [Parameter]) {
        name = function.name.text
        self.parameters = parameters
        results = TupleResult.elements(of: function.signature)
        streamElement = StreamingResult.element(of: function.signature)
        if streamElement != nil {
            (output, returnsVoid) = ("SwiftRay._StreamEnd", false)
        } else {
            (output, returnsVoid) = results.isEmpty ? Generated.output(function.signature) : ("SwiftRay._MultipleReturns", false)
        }
        isAsync = function.signature.effectSpecifiers?.asyncSpecifier != nil
        isThrowing = function.signature.effectSpecifiers?.throwsClause != nil
        access = Generated.access(function.modifiers)
    }

    func peerType() -> String {
        """
        /// Submits `\(name)` as a Ray task: `.remote(...)` returns an `ObjectRef` at once.
        \(access)struct $\(name): SwiftRay.RemoteFunction {
            \(access)typealias Output = \(output)
            \(access)static var functionName: String { "\(name)" }
            \(access)var taskOptions: SwiftRay.TaskOptions
            \(access)init(taskOptions: SwiftRay.TaskOptions) { self.taskOptions = taskOptions }
            \(access)static func _execute(_ arguments: inout SwiftRay.TaskArguments) async throws -> Output {
        \(executeBody())
            }
        \(remoteOverloads())
        }
        """
    }

    private func executeBody() -> String {
        var lines = Generated.decodeArguments(parameters, indent: "        ")
        let call = (isThrowing ? "try " : "") + (isAsync ? "await " : "") + "\(name)(\(Generated.forward(parameters)))"
        if streamElement != nil {
            lines.append("        return try await SwiftRay._StreamEnd.produce(\(call))")
        } else if returnsVoid {
            lines.append("        \(call)")
            lines.append("        return SwiftRay.RayVoid()")
        } else if !results.isEmpty {
            lines.append("        let results = \(call)")
            lines.append("        return \(TupleResult.wrapped(results))")
        } else {
            lines.append("        return \(call)")
        }
        return lines.joined(separator: "\n")
    }

    /// One overload per mix of value and `ObjectRef` arguments, each static and on an instance
    /// (the instance carries options).
    private func remoteOverloads() -> String {
        let forwarded = Generated.forward(parameters)
        return Generated.argumentMixes(parameters).map { mix in
            let signature = "remote(\(mix.declared)) -> \(refsType)"
            // Dropping a stream's generator stops the stream: its result must be used.
            let discardable = streamElement == nil ? "@discardableResult" : ""
            return """
                    \(discardable)
                    \(access)static func \(signature) {
                        Self(taskOptions: SwiftRay.TaskOptions()).remote(\(forwarded))
                    }
                    \(discardable)
                    \(access)func \(signature) {
                        \(submission(mix.wrapped))
                    }
                """
        }.joined(separator: "\n")
    }

    /// What `remote` returns: one ref, or a tuple of refs for a tuple result.
    private var refsType: String {
        if let streamElement { return "SwiftRay.ObjectRefGenerator<\(streamElement)>" }
        guard !results.isEmpty else { return "SwiftRay.ObjectRef<Output>" }
        return TupleResult.refsType(results)
    }

    private func submission(_ wrapped: String) -> String {
        if let streamElement { return "_submitStream(\(wrapped), of: \(streamElement).self)" }
        guard !results.isEmpty else { return "_submit(\(wrapped))" }
        return "let ids = _submitReturns(\(wrapped), count: \(results.count))\n        return \(TupleResult.refs(results))"
    }
}
