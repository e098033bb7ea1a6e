import SwiftCompilerPlugin
import SwiftSyntaxMacros

@main
struct RayMacrosPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [RemoteMacro.self, RayActorMacro.self]
}
