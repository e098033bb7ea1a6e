import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxBuilder
import SwiftSyntaxMacros

/// `@Remote func f(...)` adds a peer type `$f` conforming to `SwiftRay.RemoteFunction`:
/// `$f.remote(...)` submits a task and returns `ObjectRef<Result>`, each argument given either as a
/// value or as an `ObjectRef` of its type; `$f.options(...)` sets task options. Workers find `$f` by
/// its mangled name, so no registration is needed.
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

    init(function: FunctionDeclSyntax, parameters: [Parameter]) {
        name = function.name.text
        self.parameters = parameters
        (output, returnsVoid) = Generated.output(function.signature)
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
        if returnsVoid {
            lines.append("        \(call)")
            lines.append("        return SwiftRay.RayVoid()")
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
            let signature = "remote(\(mix.declared)) -> SwiftRay.ObjectRef<Output>"
            return """
                    @discardableResult
                    \(access)static func \(signature) {
                        Self(taskOptions: SwiftRay.TaskOptions()).remote(\(forwarded))
                    }
                    @discardableResult
                    \(access)func \(signature) {
                        _submit(\(mix.wrapped))
                    }
                """
        }.joined(separator: "\n")
    }
}
