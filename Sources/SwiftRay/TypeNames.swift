import Synchronization

/// Mangled type names both ways, cached: computing or resolving one costs far more than a task.
enum TypeNames {
    private static let names = Mutex<[ObjectIdentifier: String]>([:])
    private static let types = Mutex<[String: any Any.Type]>([:])

    /// The name a worker resolves `type` by.
    static func name(of type: any Any.Type) -> String {
        let key = ObjectIdentifier(type)
        if let name = names.withLock({ $0[key] }) { return name }
        let name = _mangledTypeName(type) ?? String(reflecting: type)
        names.withLock { $0[key] = name }
        return name
    }

    /// The type named `name` in this binary, if any.
    static func type(named name: String) -> (any Any.Type)? {
        if let type = types.withLock({ $0[name] }) { return type }
        guard let type = _typeByName(name) else { return nil }
        types.withLock { $0[name] = type }
        return type
    }
}
