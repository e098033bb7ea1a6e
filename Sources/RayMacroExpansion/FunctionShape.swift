import SwiftSyntax

/// What both macros read off a function's declaration: name, parameters, declared result and
/// effects (an `@RayActor` method, a `@Remote` function).
struct FunctionShape {
    let name: String
    let parameters: [Parameter]
    /// The declared result type, and whether it is `Void`.
    let output: String
    let returnsVoid: Bool
    let isAsync: Bool
    let isThrowing: Bool
    /// The item type of a streaming function (one returning an async sequence).
    let streamElement: String?
    /// The elements of a tuple result (label, type): each becomes its own object and ref.
    let results: [(label: String?, type: String)]
    /// How a call names the function (name and argument labels).
    var key: String { Parameter.key(name, parameters) }

    init(_ function: FunctionDeclSyntax, parameters: [Parameter]) {
        name = function.name.text
        self.parameters = parameters
        (output, returnsVoid) = Generated.output(function.signature)
        isAsync = function.signature.effectSpecifiers?.asyncSpecifier != nil
        isThrowing = function.signature.effectSpecifiers?.throwsClause != nil
        streamElement = StreamingResult.element(of: function.signature)
        results = TupleResult.elements(of: function.signature)
    }
}
