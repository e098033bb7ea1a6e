import RayPlatform
import RayWire
import RayWorker

/// The end of a stream a task or actor call produced: how many items it yielded. Its object is the
/// call's own result; an error that ended the stream is stored there instead.
public struct _StreamEnd: Codable, Sendable {
    /// Items yielded.
    public let count: Int

    /// Runs a streaming function's sequence inside its task or call (generated code calls this):
    /// each element becomes an object as soon as it is produced, reported to the consumer in order.
    /// Stops early, with `TaskCancelledError`, when the consumer is gone or the call is cancelled.
    /// Iterates in the caller's isolation (an actor's method's sequence stays on the actor).
    public static func produce<S: AsyncSequence>(
        _ sequence: S, isolation: isolated (any Actor)? = #isolation
    ) async throws -> _StreamEnd where S.Element: Codable & Sendable {
        guard let context = TaskContext.current, let runtime = RuntimeRegistry.current else {
            throw RaySystemError(message: "a stream is produced by a task or actor call, not by the driver")
        }
        let backpressure = context.streaming?.backpressure
        var index = 0
        for try await element in sequence {
            let item = runtime.newID()
            let payload: ObjectPayload
            do {
                payload = .value(try SharedStore.encodeObject(element, id: item))
            } catch let error as ObjectStoreFullError {
                throw error
            } catch {
                throw RaySerializationError(typeName: String(reflecting: S.Element.self), reason: "cannot encode item \(index) of \(context.name): \(error)")
            }
            let goOn = await runtime.yieldItem(stream: context.taskID, index: index, item: item, payload, backpressure: backpressure)
            index += 1
            guard goOn, !Task.isCancelled else {
                throw TaskCancelledError(functionName: context.name)
            }
        }
        return _StreamEnd(count: index)
    }
}
