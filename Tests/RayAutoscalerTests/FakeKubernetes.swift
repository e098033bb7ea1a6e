import Foundation
import Hummingbird
@testable import RayAutoscaler
import Synchronization

/// The part of a Kubernetes API server the KubeRay provider talks to, over real HTTP (no API
/// server can run here): one RayCluster with a resource version that every write bumps, JSON
/// patches with the resource version as a precondition (409 when stale), a pod list, bearer
/// tokens checked, and conflicts injected on demand (as if the operator wrote the object
/// between the provider's read and its patch). `onChange` plays the operator.
final class FakeKubernetes: Sendable {
    struct State {
        var cluster: RayClusterObject
        var version = 1
        /// Pod name -> its worker group.
        var pods: [String: String] = [:]
        var conflictsToInject = 0
        var conflictsServed = 0
        var patches: [[PatchOperationRecord]] = []
        /// The largest `replicas` any group was set to.
        var highestReplicas = 0
    }

    struct PatchOperationRecord: Codable, Equatable {
        var op: String
        var path: String
    }

    let namespace = "ml"
    let token = "k8s-token-\(UInt32.random(in: 0...UInt32.max))"
    let state: Mutex<State>
    private let onChange: @Sendable (FakeKubernetes) -> Void
    private let server = Mutex<(task: Task<Void, any Error>?, port: Int)>((nil, 0))

    init(cluster: RayClusterObject, onChange: @escaping @Sendable (FakeKubernetes) -> Void = { _ in }) {
        state = Mutex(State(cluster: cluster))
        self.onChange = onChange
    }

    var clusterName: String { state.withLock { $0.cluster.metadata.name ?? "" } }
    var port: Int { server.withLock { $0.port } }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts serving on a free loopback port.
    static func start(cluster: RayClusterObject, onChange: @escaping @Sendable (FakeKubernetes) -> Void = { _ in }) async throws -> FakeKubernetes {
        let fake = FakeKubernetes(cluster: cluster, onChange: onChange)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: fake.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw HTTPError(.internalServerError) }
        fake.server.withLock { $0 = (task, port) }
        return fake
    }

    func stop() {
        server.withLock { $0.task?.cancel() }
    }

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/apis/ray.io/v1/namespaces/:namespace/rayclusters/:name") { request, context in try self.authorized(request) { try self.getCluster(context) } }
        router.patch("/apis/ray.io/v1/namespaces/:namespace/rayclusters/:name") { request, context in
            let body = try await request.body.collect(upTo: 1 << 20)
            return try self.authorized(request) { try self.patchCluster(request, context, body: body) }
        }
        router.get("/api/v1/namespaces/:namespace/pods") { request, _ in try self.authorized(request) { try self.listPods(request) } }
        return router
    }

    private func authorized(_ request: Request, _ answer: () throws -> Response) throws -> Response {
        guard request.headers[.authorization] == "Bearer \(token)" else { return Self.status(401, "Unauthorized", "no valid bearer token") }
        return try answer()
    }

    private func getCluster(_ context: BasicRequestContext) throws -> Response {
        guard context.parameters.get("name") == clusterName, context.parameters.get("namespace") == namespace else {
            return Self.status(404, "NotFound", "rayclusters.ray.io \"\(context.parameters.get("name") ?? "")\" not found")
        }
        return try Self.json(state.withLock { state in
            var cluster = state.cluster
            cluster.metadata.resourceVersion = "\(state.version)"
            return cluster
        })
    }

    private func patchCluster(_ request: Request, _ context: BasicRequestContext, body: ByteBuffer) throws -> Response {
        guard context.parameters.get("name") == clusterName else { return Self.status(404, "NotFound", "no such RayCluster") }
        guard request.headers[.contentType] == "application/json-patch+json" else {
            return Self.status(415, "UnsupportedMediaType", "expected a JSON patch")
        }
        guard let operations = try? JSONDecoder().decode([RawOperation].self, from: body) else {
            return Self.status(400, "BadRequest", "the body is not a JSON patch")
        }
        let result: Response? = state.withLock { state in
            if state.conflictsToInject > 0 {
                state.conflictsToInject -= 1
                state.version += 1  // someone else wrote the object
            }
            var cluster = state.cluster
            cluster.metadata.resourceVersion = "\(state.version)"
            for operation in operations {
                if let problem = Self.apply(operation, to: &cluster) { return Self.status(422, "Invalid", problem) }
            }
            guard cluster.metadata.resourceVersion == "\(state.version)" else {
                state.conflictsServed += 1
                return Self.status(409, "Conflict", "Operation cannot be fulfilled on rayclusters.ray.io: the object has been modified; please apply your changes to the latest version and try again")
            }
            state.version += 1
            cluster.metadata.resourceVersion = nil
            state.cluster = cluster
            state.patches.append(operations.map { PatchOperationRecord(op: $0.op, path: $0.path) })
            let highest = cluster.spec.workerGroupSpecs?.compactMap(\.replicas).max() ?? 0
            state.highestReplicas = max(state.highestReplicas, highest)
            return nil
        }
        if let result { return result }
        onChange(self)
        return try getClusterAfterPatch()
    }

    private func getClusterAfterPatch() throws -> Response {
        try Self.json(state.withLock { state in
            var cluster = state.cluster
            cluster.metadata.resourceVersion = "\(state.version)"
            return cluster
        })
    }

    private func listPods(_ request: Request) throws -> Response {
        let selector = request.uri.queryParameters.get("labelSelector") ?? ""
        guard selector == "ray.io/cluster=\(clusterName)" else { return Self.status(400, "BadRequest", "unexpected selector \(selector)") }
        let pods = state.withLock { $0.pods }.sorted { $0.key < $1.key }.map { name, group in
            PodList.Pod(metadata: .init(name: name, labels: ["ray.io/cluster": clusterName, "ray.io/group": group, "ray.io/node-type": "worker"]))
        }
        return try Self.json(PodList(items: pods))
    }

    struct RawOperation: Decodable {
        var op: String
        var path: String
        var value: FlexibleValue
    }

    /// A patch value: a string, an integer or a scale strategy.
    enum FlexibleValue: Decodable {
        case text(String), count(Int), strategy(RayClusterObject.ScaleStrategy)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let count = try? container.decode(Int.self) {
                self = .count(count)
            } else if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                self = .strategy(try container.decode(RayClusterObject.ScaleStrategy.self))
            }
        }
    }

    /// Applies one operation of the paths the provider may write; nil, or why it cannot.
    static func apply(_ operation: RawOperation, to cluster: inout RayClusterObject) -> String? {
        let parts = operation.path.split(separator: "/").map(String.init)
        let groups = cluster.spec.workerGroupSpecs?.count ?? 0
        if parts == ["metadata", "resourceVersion"], case .text(let version) = operation.value {
            switch operation.op {
            case "test": return version == cluster.metadata.resourceVersion ? nil : "test failed"
            case "replace": cluster.metadata.resourceVersion = version
            default: return "unsupported operation \(operation.op) on the resource version"
            }
            return nil
        }
        guard parts.count == 4, parts[0] == "spec", parts[1] == "workerGroupSpecs", let index = Int(parts[2]), index < groups,
              operation.op == "add" || operation.op == "replace" else {
            return "unsupported patch operation \(operation.op) \(operation.path)"
        }
        switch (parts[3], operation.value) {
        case ("replicas", .count(let replicas)):
            guard replicas >= 0 else { return "replicas cannot be negative" }
            cluster.spec.workerGroupSpecs?[index].replicas = replicas
        case ("scaleStrategy", .strategy(let strategy)):
            cluster.spec.workerGroupSpecs?[index].scaleStrategy = strategy
        default:
            return "unsupported patch operation \(operation.op) \(operation.path)"
        }
        return nil
    }

    static func json(_ value: some Encodable) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: try JSONEncoder().encode(value))))
    }

    static func status(_ code: Int, _ reason: String, _ message: String) -> Response {
        let body = #"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"\#(reason)","code":\#(code),"message":"\#(message.replacingOccurrences(of: "\"", with: "\\\""))"}"#
        return Response(status: .init(code: code), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
