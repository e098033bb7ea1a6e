import RayPlatform
import RayWire
import RayWorker

/// The results of a remote function that returns a tuple, each stored as its own object (Ray's
/// `num_returns`): `@Remote func f() -> (Int, String)` gives `$f.remote()` a tuple of refs,
/// `(ObjectRef<Int>, ObjectRef<String>)`, each counted, freed and rebuilt on its own. Generated
/// code builds it; not for direct use.
public struct _MultipleReturns: Codable, Sendable {
    private let encoders: [@Sendable (ObjectID) throws -> EncodedValue]

    /// The tuple's elements, in order.
    public init<each Element: Codable & Sendable>(_ element: repeat each Element) {
        var encoders: [@Sendable (ObjectID) throws -> EncodedValue] = []
        for value in repeat each element {
            encoders.append { id in try SharedStore.encodeObject(value, id: id) }
        }
        self.encoders = encoders
    }

    /// One payload per result, each encoded as the object it goes to.
    func encode(into ids: [ObjectID]) throws -> [ObjectPayload] {
        guard ids.count == encoders.count else {
            throw RaySystemError(message: "\(encoders.count) results for \(ids.count) refs")
        }
        return try zip(encoders, ids).map { encode, id in .value(try encode(id)) }
    }

    /// Never travels as one value: each element is its own object.
    public init(from decoder: any Decoder) throws {
        throw RaySystemError(message: "several results are read through their own refs")
    }

    public func encode(to encoder: any Encoder) throws {
        throw RaySystemError(message: "several results are stored as their own objects")
    }
}

extension RemoteFunction {
    /// Submits a task with `count` results (generated `remote` overloads of functions returning a
    /// tuple call this); returns the ids of its results, in order.
    public func _submitReturns(_ arguments: [TaskArgument], count: Int) -> [ObjectID] {
        submitTask(Self.self, name: taskOptions.name ?? Self.functionName, options: taskOptions, arguments: arguments, returns: count)
    }
}

extension ObjectRef {
    /// The first reference to result `index` of a task just submitted with `_submitReturns`
    /// (generated code; not for direct use).
    public static func _result(_ ids: [ObjectID], _ index: Int) -> ObjectRef<T> {
        ObjectRef(_created: index < ids.count ? ids[index] : .none)
    }
}
