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

/// What the macro reads off the function (`FunctionShape`, and its access), with the task's
/// output: the declared result, or what carries a stream's end or a tuple's elements.
struct RemoteFunctionShape {
    let function: FunctionShape
    let access: String
    let output: String
    let returnsVoid: Bool

    init(function declaration: FunctionDeclSyntax, parameters: [Parameter]) {
        function = FunctionShape(declaration, parameters: parameters)
        access = Generated.access(declaration.modifiers)
        if function.streamElement != nil {
            (output, returnsVoid) = ("SwiftRay._StreamEnd", false)
        } else if !function.results.isEmpty {
            (output, returnsVoid) = ("SwiftRay._MultipleReturns", false)
        } else {
            (output, returnsVoid) = (function.output, function.returnsVoid)
        }
    }

    func peerType() -> String {
        """
        /// Submits `\(function.name)` as a Ray task: `.remote(...)` returns an `ObjectRef` at once.
        \(access)struct $\(function.name): SwiftRay.RemoteFunction {
            \(access)typealias Output = \(output)
            \(access)static var functionName: String { "\(function.name)" }
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
        var lines = Generated.decodeArguments(function.parameters, indent: "        ")
        let call = (function.isThrowing ? "try " : "") + (function.isAsync ? "await " : "") + "\(function.name)(\(Generated.forward(function.parameters)))"
        if function.streamElement != nil {
            lines.append("        return try await SwiftRay._StreamEnd.produce(\(call))")
        } else if returnsVoid {
            lines.append("        \(call)")
            lines.append("        return SwiftRay.RayVoid()")
        } else if !function.results.isEmpty {
            lines.append("        let results = \(call)")
            lines.append("        return \(TupleResult.wrapped(function.results))")
        } else {
            lines.append("        return \(call)")
        }
        return lines.joined(separator: "\n")
    }

    /// One overload per mix of value and `ObjectRef` arguments, each static and on an instance
    /// (the instance carries options).
    private func remoteOverloads() -> String {
        let forwarded = Generated.forward(function.parameters)
        return Generated.argumentMixes(function.parameters).map { mix in
            let signature = "remote(\(mix.declared)) -> \(refsType)"
            // Dropping a stream's generator stops the stream: its result must be used.
            let discardable = function.streamElement == nil ? "@discardableResult" : ""
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
        if let streamElement = function.streamElement { return "SwiftRay.ObjectRefGenerator<\(streamElement)>" }
        guard !function.results.isEmpty else { return "SwiftRay.ObjectRef<Output>" }
        return TupleResult.refsType(function.results)
    }

    private func submission(_ wrapped: String) -> String {
        if let streamElement = function.streamElement { return "_submitStream(\(wrapped), of: \(streamElement).self)" }
        guard !function.results.isEmpty else { return "_submit(\(wrapped))" }
        return "let ids = _submitReturns(\(wrapped), count: \(function.results.count))\n        return \(TupleResult.refs(function.results))"
    }
}
