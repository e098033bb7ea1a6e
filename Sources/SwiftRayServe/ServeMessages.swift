import Foundation

/// An HTTP request as a replica receives it (Ray Serve's `starlette.Request`): method, path,
/// query, headers and body. Built by the proxy; build one yourself to call a handle from Swift.
public struct ServeRequest: Codable, Sendable, Equatable {
    public var method: String
    /// The whole path (`/predict/v1`); `routePrefix` is the application's part of it.
    public var path: String
    public var routePrefix: String
    public var query: [String: String]
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(
        method: String = "GET", path: String = "/", routePrefix: String = "/", query: [String: String] = [:], headers: [String: String] = [:],
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.routePrefix = routePrefix
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// A POST of `value` as JSON.
    public static func json<T: Encodable>(_ value: T, path: String = "/") throws -> ServeRequest {
        ServeRequest(method: "POST", path: path, headers: ["content-type": "application/json"], body: Array(try JSONEncoder().encode(value)))
    }

    /// The body decoded from JSON (Ray's `await request.json()`).
    /// - Throws: `BadRequest` (the proxy answers 400) when it is not that JSON.
    public func json<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw BadRequest(message: "the body is not JSON of \(T.self): \(error)")
        }
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A replica's answer: status, headers and body.
public struct ServeResponse: Codable, Sendable, Equatable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int = 200, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `value` as a JSON body (what a Ray Serve deployment returning a dict sends).
    public static func json<T: Encodable>(_ value: T, status: Int = 200) throws -> ServeResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]  // the same bytes for the same value
        return ServeResponse(status: status, headers: ["content-type": "application/json"], body: Array(try encoder.encode(value)))
    }

    public static func text(_ text: String, status: Int = 200) -> ServeResponse {
        ServeResponse(status: status, headers: ["content-type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    /// The body decoded from JSON.
    public func json<T: Decodable>(_ type: T.Type = T.self) throws -> T { try JSONDecoder().decode(T.self, from: Data(body)) }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// The request cannot be served as sent: the proxy answers 400 with the message.
public struct BadRequest: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Every replica is at `maxOngoingRequests` and the queue is full: the proxy answers 503 with
/// `Retry-After`.
public struct ServeOverloaded: Error, CustomStringConvertible {
    public let deployment: String
    public var description: String { "\(deployment) is at its limit of ongoing and queued requests; retry later" }
}

/// What `Serve` refuses.
public struct ServeError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
