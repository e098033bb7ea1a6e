import SwiftDiagnostics
import SwiftSyntax
import SwiftSyntaxBuilder
import SwiftSyntaxMacros

/// `@Remote func f(...)` adds a peer type `$f` conforming to `SwiftRay.RemoteFunction`:
/// `$f.remote(...)` submits a task and returns `ObjectRef<Result>`, each argument given either as a
/// value or as an `ObjectRef` of its type; `$f.options(...)` sets task options. Workers find `$f` by
/// its mangled name, so no registration is needed.
public struct RemoteMacro: PeerMacro {
    /// Functions with more parameters get only the all-values and all-refs overloads, not every mix.
    static let maxMixedParameters = 4

    public static func expansion(
        of node: AttributeSyntax,
        providingPeersOf declaration: some DeclSyntaxProtocol,
        in context: some MacroExpansionContext
    ) throws -> [DeclSyntax] {
        guard let function = declaration.as(FunctionDeclSyntax.self) else {
            throw RemoteMacroError("@Remote applies to functions")
        }
        let parameters = try RemoteFunctionShape.parameters(of: function)
        let shape = RemoteFunctionShape(function: function, parameters: parameters)
        return [DeclSyntax(stringLiteral: shape.peerType())]
    }
}

struct RemoteMacroError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What the macro reads off the function: name, parameters, result, effects, access.
struct RemoteFunctionShape {
    struct Parameter {
        let label: String  // external label, "_" for none
        let type: String
    }

    let name: String
    let parameters: [Parameter]
    let output: String
    let returnsVoid: Bool
    let isAsync: Bool
    let isThrowing: Bool
    let access: String
    let isStatic: Bool

    init(function: FunctionDeclSyntax, parameters: [Parameter]) {
        name = function.name.text
        self.parameters = parameters
        let resultType = function.signature.returnClause?.type.trimmedDescription
        returnsVoid = resultType == nil || resultType == "Void" || resultType == "()"
        output = returnsVoid ? "SwiftRay.RayVoid" : resultType!
        isAsync = function.signature.effectSpecifiers?.asyncSpecifier != nil
        isThrowing = function.signature.effectSpecifiers?.throwsClause != nil
        let modifiers = function.modifiers.map(\.name.text)
        access = modifiers.first { ["public", "package", "internal", "fileprivate", "private"].contains($0) }
            .map { $0 == "private" ? "fileprivate " : "\($0) " } ?? ""
        isStatic = modifiers.contains("static") || modifiers.contains("class")
    }

    static func parameters(of function: FunctionDeclSyntax) throws -> [Parameter] {
        if let generics = function.genericParameterClause, !generics.parameters.isEmpty {
            throw RemoteMacroError("@Remote functions cannot be generic: a worker must find one concrete function")
        }
        return try function.signature.parameterClause.parameters.map { parameter in
            let type = parameter.type.trimmedDescription
            if type.hasPrefix("inout ") { throw RemoteMacroError("@Remote parameters cannot be inout") }
            if parameter.ellipsis != nil { throw RemoteMacroError("@Remote parameters cannot be variadic") }
            return Parameter(label: parameter.firstName.text, type: type)
        }
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
        var lines = parameters.indices.map { "        let a\($0) = try arguments.next(\(parameters[$0].type).self)" }
        let arguments = parameters.indices.map { index in
            parameters[index].label == "_" ? "a\(index)" : "\(parameters[index].label): a\(index)"
        }.joined(separator: ", ")
        let call = (isThrowing ? "try " : "") + (isAsync ? "await " : "") + "\(name)(\(arguments))"
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
        let count = parameters.count
        let masks: [Int] = count <= RemoteMacro.maxMixedParameters
            ? Array(0..<(1 << count)) : [0, (1 << count) - 1]
        return masks.map { overload(refMask: $0) }.joined(separator: "\n")
    }

    private func overload(refMask: Int) -> String {
        var declared: [String] = []
        var forwarded: [String] = []
        var wrapped: [String] = []
        for (index, parameter) in parameters.enumerated() {
            let isRef = refMask & (1 << index) != 0
            let type = isRef ? "SwiftRay.ObjectRef<\(parameter.type)>" : parameter.type
            declared.append("\(parameter.label) a\(index): \(type)")
            forwarded.append(parameter.label == "_" ? "a\(index)" : "\(parameter.label): a\(index)")
            wrapped.append(isRef ? "SwiftRay.TaskArgument(ref: a\(index))" : "SwiftRay.TaskArgument(value: a\(index))")
        }
        let signature = "remote(\(declared.joined(separator: ", "))) -> SwiftRay.ObjectRef<Output>"
        return """
                @discardableResult
                \(access)static func \(signature) {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(\(forwarded.joined(separator: ", ")))
                }
                @discardableResult
                \(access)func \(signature) {
                    _submit([\(wrapped.joined(separator: ", "))])
                }
            """
    }
}
