import RayMacroExpansion
import SwiftCompilerPlugin
import SwiftSyntax
import SwiftSyntaxMacros

@main
struct RayMacrosPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [RemoteMacro.self, RayActorMacro.self]
}

// The compiler finds a macro by module and type name (`#externalMacro(module: "RayMacros", ...)`),
// so the types it names live here and hand over to RayMacroExpansion, where they are tested.

/// `@Remote`: see `RayMacroExpansion.RemoteMacro`.
public struct RemoteMacro: PeerMacro {
    public static func expansion(
        of node: AttributeSyntax, providingPeersOf declaration: some DeclSyntaxProtocol, in context: some MacroExpansionContext
    ) throws -> [DeclSyntax] {
        try RayMacroExpansion.RemoteMacro.expansion(of: node, providingPeersOf: declaration, in: context)
    }
}

/// `@RayActor`: see `RayMacroExpansion.RayActorMacro`.
public struct RayActorMacro: MemberMacro, ExtensionMacro {
    public static func expansion(
        of node: AttributeSyntax, providingMembersOf declaration: some DeclGroupSyntax,
        conformingTo protocols: [TypeSyntax], in context: some MacroExpansionContext
    ) throws -> [DeclSyntax] {
        try RayMacroExpansion.RayActorMacro.expansion(of: node, providingMembersOf: declaration, conformingTo: protocols, in: context)
    }

    public static func expansion(
        of node: AttributeSyntax, attachedTo declaration: some DeclGroupSyntax,
        providingExtensionsOf type: some TypeSyntaxProtocol, conformingTo protocols: [TypeSyntax],
        in context: some MacroExpansionContext
    ) throws -> [ExtensionDeclSyntax] {
        try RayMacroExpansion.RayActorMacro.expansion(
            of: node, attachedTo: declaration, providingExtensionsOf: type, conformingTo: protocols, in: context)
    }
}
