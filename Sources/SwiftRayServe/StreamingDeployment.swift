import SwiftRay

/// A piece of a streamed answer: bytes the proxy sends as soon as the replica yields them.
public struct ServeChunk: Codable, Sendable, Equatable, ExpressibleByStringLiteral {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(stringLiteral text: String) { self.init(text) }

    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// A deployment that answers with a stream (Ray Serve's `StreamingResponse` from a generator): the
/// proxy sends each chunk the replica yields at once, with chunked transfer encoding, while the
/// replica goes on producing (a streaming actor call underneath). The replica pauses when the
/// client reads slower than it yields; a client that disconnects stops it.
///
/// ```swift
/// @RayActor
/// distributed actor Counter: StreamingDeployment {
///     func stream(_ request: ServeRequest) -> AsyncThrowingStream<ServeChunk, any Error> {
///         AsyncThrowingStream { continuation in
///             for i in 0..<10 { continuation.yield(ServeChunk("\(i)\n")) }
///             continuation.finish()
///         }
///     }
/// }
/// try await Serve.run(Counter.bind())
/// ```
///
/// The status is 200 with `contentType` once the first chunk came; an error before it is a 500 (or
/// 400 for `BadRequest`), one after it ends the response early. A handle's `call` gathers the whole
/// stream into one response; `stream` hands the chunks over as they come.
public protocol StreamingDeployment: RayActor {
    /// The chunks answering `request`.
    func stream(_ request: ServeRequest) -> AsyncThrowingStream<ServeChunk, any Error>
    /// The streamed answer's `content-type` (default `text/plain; charset=utf-8`).
    static var contentType: String { get }
}

extension StreamingDeployment {
    public static var contentType: String { "text/plain; charset=utf-8" }

    /// The deployment with its replicas made by `create` (Ray's `Deployment.bind(args)`).
    public static func bind(
        _ config: DeploymentConfig = DeploymentConfig(), name: String? = nil, _ create: @escaping @Sendable (ActorOptions) async throws -> Self
    ) -> Application {
        Application(
            deploymentName: name ?? "\(Self.self)", config: config, typeName: _mangledTypeName(Self.self) ?? "\(Self.self)",
            contentType: contentType
        ) { options in
            let replica = try await create(options)
            let open = streamCall(replica)
            return Application.Replica(call: { try await gather(open($0)) }, id: replica.id, control: .of(replica), stream: open)
        }
    }

    /// `bind` for a deployment made by its `init(actorSystem:)`.
    public static func bind(_ config: DeploymentConfig = DeploymentConfig(), name: String? = nil) -> Application {
        bind(config, name: name) { options in try await ray.actor(Self.self, options: options) }
    }

    /// Opens `replica`'s stream for a request: a streaming call of its `stream(_:)`, at most 64
    /// chunks ahead of the reader.
    static func streamCall(_ replica: Self) -> Application.StreamCall {
        { request in
            RayActorCalls.submitStream(
                replica, method: "stream(_:)", name: "\(Self.self).stream", arguments: [TaskArgument(value: request)], backpressure: 64)
        }
    }

    /// The whole stream as one response.
    static func gather(_ chunks: ObjectRefGenerator<ServeChunk>) async throws -> ServeResponse {
        var body: [UInt8] = []
        for try await chunk in chunks.values { body += chunk.bytes }
        return ServeResponse(status: 200, headers: ["content-type": contentType], body: body)
    }
}
