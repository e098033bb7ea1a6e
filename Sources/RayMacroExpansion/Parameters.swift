import SwiftSyntax

struct MacroError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A parameter as generated code needs it: its external label and type.
struct Parameter {
    let label: String  // "_" for none
    let type: String

    static func list(_ clause: FunctionParameterClauseSyntax, generics: GenericParameterClauseSyntax?, what: String) throws -> [Parameter] {
        if let generics, !generics.parameters.isEmpty {
            throw MacroError("\(what) cannot be generic: a worker must find one concrete function")
        }
        return try clause.parameters.map { parameter in
            let type = parameter.type.trimmedDescription
            if type.hasPrefix("inout ") { throw MacroError("\(what) cannot take inout parameters") }
            if parameter.ellipsis != nil { throw MacroError("\(what) cannot take variadic parameters") }
            return Parameter(label: parameter.firstName.text, type: type)
        }
    }

    /// The Swift name of a function with these parameters: `name(_:to:)`.
    static func key(_ name: String, _ parameters: [Parameter]) -> String {
        "\(name)(" + parameters.map { "\($0.label):" }.joined() + ")"
    }
}

/// Writes the code shared by `@Remote` and `@RayActor`.
enum Generated {
    /// Functions with more parameters get only the all-values and all-refs overloads, not every mix.
    static let maxMixedParameters = 4

    /// `let a0 = try arguments.next(T.self)` for each parameter.
    static func decodeArguments(_ parameters: [Parameter], indent: String, skipping skipped: Set<Int> = []) -> [String] {
        parameters.indices.filter { !skipped.contains($0) }.map {
            "\(indent)let a\($0) = try arguments.next(\(parameters[$0].type).self)"
        }
    }

    /// `a0, to: a1`: forwarding the decoded values with their labels.
    static func forward(_ parameters: [Parameter], replacing replaced: [Int: String] = [:]) -> String {
        parameters.indices.map { index in
            let value = replaced[index] ?? "a\(index)"
            return parameters[index].label == "_" ? value : "\(parameters[index].label): \(value)"
        }.joined(separator: ", ")
    }

    /// One signature per mix of value and `ObjectRef` arguments: `(declared parameters, wrapped arguments)`.
    static func argumentMixes(_ parameters: [Parameter]) -> [(declared: String, wrapped: String)] {
        let count = parameters.count
        let masks = count <= maxMixedParameters ? Array(0..<(1 << count)) : [0, (1 << count) - 1]
        return masks.map { mask in
            var declared: [String] = []
            var wrapped: [String] = []
            for (index, parameter) in parameters.enumerated() {
                let isRef = mask & (1 << index) != 0
                declared.append("\(parameter.label) a\(index): \(isRef ? "SwiftRay.ObjectRef<\(parameter.type)>" : parameter.type)")
                wrapped.append(isRef ? "SwiftRay.TaskArgument(ref: a\(index))" : "SwiftRay.TaskArgument(value: a\(index))")
            }
            return (declared.joined(separator: ", "), "[" + wrapped.joined(separator: ", ") + "]")
        }
    }

    /// The access modifier to give generated members (`private` becomes `fileprivate`).
    static func access(_ modifiers: DeclModifierListSyntax) -> String {
        modifiers.map(\.name.text)
            .first { ["public", "package", "internal", "fileprivate", "private", "open"].contains($0) }
            .map { $0 == "private" ? "fileprivate " : $0 == "open" ? "public " : "\($0) " } ?? ""
    }

    /// The result type, or `SwiftRay.RayVoid` for none.
    static func output(_ signature: FunctionSignatureSyntax) -> (type: String, isVoid: Bool) {
        let result = signature.returnClause?.type.trimmedDescription
        let isVoid = result == nil || result == "Void" || result == "()"
        return (isVoid ? "SwiftRay.RayVoid" : result!, isVoid)
    }
}

/// Results spelled as an async sequence make a streaming function or method (Ray's
/// `num_returns="streaming"`): `AsyncStream<E>`, `AsyncThrowingStream<E, F>`,
/// `some AsyncSequence<E, F>` or `any AsyncSequence<E, F>`.
enum StreamingResult {
    static let sequenceTypes: Set<String> = ["AsyncStream", "AsyncThrowingStream", "AsyncSequence"]

    /// The element type of such a result; nil for any other.
    static func element(of signature: FunctionSignatureSyntax) -> String? {
        guard var type = signature.returnClause?.type else { return nil }
        if let wrapped = type.as(SomeOrAnyTypeSyntax.self) { type = wrapped.constraint }
        let arguments: GenericArgumentListSyntax?
        if let named = type.as(IdentifierTypeSyntax.self), sequenceTypes.contains(named.name.text) {
            arguments = named.genericArgumentClause?.arguments
        } else if let member = type.as(MemberTypeSyntax.self), sequenceTypes.contains(member.name.text) {
            arguments = member.genericArgumentClause?.arguments
        } else {
            return nil
        }
        return arguments?.first?.argument.trimmedDescription
    }
}

/// A result spelled as a tuple of two or more elements: each becomes its own object and ref (Ray's
/// `num_returns`).
enum TupleResult {
    /// The elements (label, type); empty for any other result.
    static func elements(of signature: FunctionSignatureSyntax) -> [(label: String?, type: String)] {
        guard let tuple = signature.returnClause?.type.as(TupleTypeSyntax.self)?.elements, tuple.count > 1 else { return [] }
        return tuple.map { ($0.firstName?.text, $0.type.trimmedDescription) }
    }

    /// The refs a call returns: `(label: SwiftRay.ObjectRef<T>, ...)`.
    static func refsType(_ results: [(label: String?, type: String)]) -> String {
        "(" + results.map { ($0.label.map { "\($0): " } ?? "") + "SwiftRay.ObjectRef<\($0.type)>" }.joined(separator: ", ") + ")"
    }

    /// The tuple of refs built from the submitted `ids`.
    static func refs(_ results: [(label: String?, type: String)]) -> String {
        "(" + results.enumerated().map { index, result in
            (result.label.map { "\($0): " } ?? "") + "SwiftRay.ObjectRef<\(result.type)>._result(ids, \(index))"
        }.joined(separator: ", ") + ")"
    }

    /// `SwiftRay._MultipleReturns(results.0, results.1, ...)`.
    static func wrapped(_ results: [(label: String?, type: String)]) -> String {
        "SwiftRay._MultipleReturns(\(results.indices.map { "results.\($0)" }.joined(separator: ", ")))"
    }
}
