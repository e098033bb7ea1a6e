import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import RayWire

/// The dashboard's HTTP routes.
enum DashboardRoutes {
    static func add(
        to router: Router<BasicRequestContext>, source: @escaping Dashboard.StateSource, logs: Dashboard.LogSource?,
        history: History, metrics: DashboardMetrics
    ) {
        router.get("/") { _, _ in html(DashboardPage.html) }
        router.get("/api/state") { _, _ in try json(try await source()) }
        // KubeRay's head probe (Ray's GCS health check): the head answers when it can give its state.
        router.get("/api/gcs_healthz") { _, _ in
            _ = try await source()
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "success")))
        }
        router.get("/api/nodes") { request, _ in try json(filtered(try await source().nodes, request)) }
        router.get("/api/workers") { request, _ in try json(filtered(try await source().workers, request)) }
        router.get("/api/tasks") { request, _ in try json(filtered(try await source().tasks, request)) }
        router.get("/api/actors") { request, _ in try json(filtered(try await source().actors, request)) }
        router.get("/api/objects") { request, _ in try json(filtered(try await source().objects, request)) }
        router.get("/api/placement_groups") { request, _ in try json(filtered(try await source().placementGroups, request)) }
        router.get("/api/tune") { request, _ in try json(filtered(try await source().experiments, request)) }
        // Dataset executions, newest first (`?state=RUNNING`, `?name=etl`).
        router.get("/api/data") { request, _ in try json(filtered(try await source().datasets, request)) }
        router.get("/api/summary/tasks") { _, _ in try json(TaskSummary.of(try await source().tasks)) }
        router.get("/api/history") { _, _ in try json(history.samples) }
        router.get("/api/logs") { request, _ in
            let query = try logsQuery(request.uri.queryParameters)
            guard let logs else { return try json(LogsReply(text: "", next: 0, error: "this dashboard has no logs")) }
            let result = await logs(query)
            return try json(LogsReply(text: result.text, next: result.next, error: result.error))
        }
        router.get("/api/timeline") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: ChromeTrace.json(try await source().tasks))))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.text(for: try await source()))))
        }
    }

    /// `/api/logs`'s parameters; a malformed or out-of-range one is a 400, never passed on.
    static func logsQuery(_ parameters: FlatDictionary<Substring, Substring>) throws -> LogsQuery {
        func number<T: FixedWidthInteger>(_ name: String, _: T.Type) throws -> T? {
            guard let text = parameters.get(name) else { return nil }
            guard let value = T(text) else { throw HTTPError(.badRequest, message: "\(name) must be an integer, not '\(text)'") }
            return value
        }
        let query = LogsQuery(
            pid: try number("pid", Int32.self), actor: parameters.get("actor"), task: parameters.get("task"),
            offset: try number("offset", Int.self), tail: try number("tail", Int.self) ?? 200)
        if let problem = query.problem { throw HTTPError(.badRequest, message: problem) }
        guard query.pid != nil || query.actor != nil || query.task != nil else {
            throw HTTPError(.badRequest, message: "give pid, actor or task")
        }
        return query
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: try encoder.encode(value))))
    }

    /// Rows whose fields equal every query parameter (`?state=RUNNING&name=square`).
    static func filtered<T: Encodable>(_ rows: [T], _ request: Request) throws -> [T] {
        let filters = request.uri.queryParameters.filter { $0.key != "token" }
        guard !filters.isEmpty else { return rows }
        return try rows.filter { row in
            let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(row)) as? [String: Any] ?? [:]
            return filters.allSatisfy { key, value in object[String(key)].map { "\($0)" } == String(value) }
        }
    }
}

/// The answer of `/api/logs`.
struct LogsReply: Encodable {
    let text: String
    let next: Int
    let error: String?
}
