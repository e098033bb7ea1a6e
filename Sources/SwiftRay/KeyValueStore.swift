import RayWire

extension Ray {
    /// The cluster's key-value store, kept by the head (Ray's internal KV): small shared settings
    /// and coordination between drivers and tasks. Keys live in namespaces (default `"default"`).
    public var kv: RayKeyValueStore { RayKeyValueStore() }
}

/// Operations on the cluster's key-value store, from the driver or any task.
public struct RayKeyValueStore: Sendable {
    /// Stores `value` under `key`; returns whether the key is new. With `overwrite: false` an
    /// existing value is kept.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], overwrite: Bool = true, namespace: String = defaultNamespace) async throws -> Bool {
        guard case .added(let added) = try await call(.put(namespace: namespace, key: key, value: value, overwrite: overwrite)) else { return false }
        return added
    }

    /// The value under `key`, or nil.
    public func get(_ key: String, namespace: String = defaultNamespace) async throws -> [UInt8]? {
        guard case .value(let value) = try await call(.get(namespace: namespace, key: key)) else { return nil }
        return value
    }

    /// Removes `key`; returns whether it existed.
    @discardableResult
    public func delete(_ key: String, namespace: String = defaultNamespace) async throws -> Bool {
        guard case .deleted(let count) = try await call(.delete(namespace: namespace, key: key)) else { return false }
        return count > 0
    }

    /// The keys starting with `prefix`, sorted.
    public func keys(prefix: String = "", namespace: String = defaultNamespace) async throws -> [String] {
        guard case .keys(let keys) = try await call(.keys(namespace: namespace, prefix: prefix)) else { return [] }
        return keys
    }

    /// Stores a `Codable` value (binary encoding).
    @discardableResult
    public func put<T: Encodable>(_ key: String, value: T, overwrite: Bool = true, namespace: String = defaultNamespace) async throws -> Bool {
        try await put(key, try BinaryValueEncoder.encode(value), overwrite: overwrite, namespace: namespace)
    }

    /// The `Codable` value under `key`, or nil.
    /// - Throws: `RaySerializationError` when the stored bytes are not a `T`.
    public func get<T: Decodable>(_ key: String, as type: T.Type, namespace: String = defaultNamespace) async throws -> T? {
        guard let bytes = try await get(key, namespace: namespace) else { return nil }
        do {
            return try BinaryValueDecoder.decode(T.self, from: bytes)
        } catch {
            throw RaySerializationError(typeName: String(reflecting: T.self), reason: "the value under '\(key)' cannot be decoded: \(error)")
        }
    }

    private func call(_ request: KVRequest) async throws -> KVReply {
        try await RuntimeRegistry.require().kv(request)
    }
}
