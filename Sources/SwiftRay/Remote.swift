/// Makes a function remote: `@Remote func f(_ x: Int) -> Int` adds `$f`, whose `.remote(x)`
/// submits `f` as a task and returns an `ObjectRef<Int>` at once. Each argument may be given as a
/// value or as an `ObjectRef` of its type; the task runs when its arguments are ready.
@attached(peer, names: prefixed(`$`))
public macro Remote() = #externalMacro(module: "RayMacros", type: "RemoteMacro")
