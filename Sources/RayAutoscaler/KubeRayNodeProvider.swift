import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// Nodes as the pods of a KubeRay `RayCluster`'s worker groups (Ray's KubeRay node provider):
/// launching raises a group's `replicas`, removing lowers it and names the pods in
/// `scaleStrategy.workersToDelete`; the KubeRay operator creates and deletes the pods. Every change
/// is a JSON patch carrying the `resourceVersion` it was computed from, so a change made meanwhile
/// by someone else (the operator, a user's `kubectl`) is refused with 409 and recomputed.
///
/// Pods are recognised as nodes by the marker their `ray start` adds from the variables KubeRay
/// sets in Ray containers (`RAY_NODE_TYPE_NAME`: the group, `RAY_CLOUD_INSTANCE_ID`: the pod).
package actor KubeRayNodeProvider: NodeProvider {
    /// Where the Kubernetes API is and how to authenticate.
    package struct Endpoint: Sendable {
        /// `https://HOST:PORT` (or `http://` for a test server).
        package var baseURL: String
        package var namespace: String
        package var clusterName: String
        /// A bearer token (the pod's service account token).
        package var token: String?
        /// The CA certificate (PEM file) that signs the API server's certificate.
        package var caFile: String?

        package init(baseURL: String, namespace: String, clusterName: String, token: String? = nil, caFile: String? = nil) {
            self.baseURL = baseURL
            self.namespace = namespace
            self.clusterName = clusterName
            self.token = token
            self.caFile = caFile
        }

        /// The API server as seen from inside a pod: `KUBERNETES_SERVICE_HOST`/`_PORT`, the
        /// service account's token and CA, and its namespace unless `namespace` is given.
        /// - Throws: `ProviderError` when not running in a pod.
        package static func inCluster(clusterName: String, namespace: String?) throws -> Endpoint {
            let environment = ProcessInfo.processInfo.environment
            let account = "/var/run/secrets/kubernetes.io/serviceaccount"
            guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
                throw ProviderError(message: "KUBERNETES_SERVICE_HOST is not set: not running in a Kubernetes pod")
            }
            let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
            let name = host.contains(":") ? "[\(host)]" : host
            guard let token = try? String(contentsOfFile: "\(account)/token", encoding: .utf8) else {
                throw ProviderError(message: "cannot read the service account token in \(account)")
            }
            let ownNamespace = try? String(contentsOfFile: "\(account)/namespace", encoding: .utf8)
            guard let namespace = namespace ?? ownNamespace?.trimmingCharacters(in: .whitespacesAndNewlines) else {
                throw ProviderError(message: "no namespace given and none in \(account)")
            }
            return Endpoint(
                baseURL: "https://\(name):\(port)", namespace: namespace, clusterName: clusterName,
                token: token.trimmingCharacters(in: .whitespacesAndNewlines), caFile: "\(account)/ca.crt")
        }
    }

    private let endpoint: Endpoint
    private let client: HTTPClient
    /// Conflicting changes are recomputed this many times before a change fails.
    private let attempts = 8
    private let logger = Logger(label: "swiftray.autoscaler.kuberay")

    package init(endpoint: Endpoint) throws {
        self.endpoint = endpoint
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(20)))
        if let caFile = endpoint.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes its connections.
    package func shutdown() async {
        try? await client.shutdown()
    }

    // A provider dropped without `shutdown()` still closes its client (which must be shut down
    // before it goes); one already shut down answers with an error that is of no interest.
    deinit { client.shutdown { _ in } }

    private var clusterPath: String {
        "/apis/ray.io/v1/namespaces/\(endpoint.namespace)/rayclusters/\(endpoint.clusterName)"
    }

    /// The RayCluster as it is now.
    package func rayCluster() async throws -> RayClusterObject {
        try await decode(RayClusterObject.self, from: request(.GET, clusterPath))
    }

    package func nodes() async throws -> [ProviderNode] {
        let cluster = try await rayCluster()
        let selector = "ray.io/cluster=\(endpoint.clusterName)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let pods = try await decode(PodList.self, from: request(.GET, "/api/v1/namespaces/\(endpoint.namespace)/pods?labelSelector=\(selector)"))
        let groups = cluster.spec.workerGroupSpecs ?? []
        try await forgetDeletedPods(groups, existing: Set(pods.items.map(\.metadata.name)))
        return groups.flatMap { group in Self.nodes(of: group, pods: pods.items) }
    }

    /// Takes pods the operator has deleted out of `workersToDelete` (as Ray's provider does), so
    /// the list does not grow and a later pod of the same name is not deleted at once.
    private func forgetDeletedPods(_ groups: [RayClusterObject.WorkerGroup], existing: Set<String>) async throws {
        for group in groups where (group.scaleStrategy?.workersToDelete ?? []).contains(where: { !existing.contains($0) }) {
            try await change(group: group.groupName) { spec in
                spec.scaleStrategy?.workersToDelete?.removeAll { !existing.contains($0) }
            }
        }
    }

    /// A group's live pods, and a placeholder per replica the operator has not made a pod for.
    static func nodes(of group: RayClusterObject.WorkerGroup, pods: [PodList.Pod]) -> [ProviderNode] {
        let deleting = Set(group.scaleStrategy?.workersToDelete ?? [])
        let members = pods.filter { pod in
            let labels = pod.metadata.labels ?? [:]
            return labels["ray.io/group"] == group.groupName && labels["ray.io/node-type"] != "head"
                && pod.metadata.deletionTimestamp == nil && !deleting.contains(pod.metadata.name)
        }
        let wanted = group.suspend == true ? 0 : group.replicas ?? group.minReplicas ?? 0
        return members.map { ProviderNode(type: group.groupName, marker: Autoscaler.marker(type: group.groupName, id: $0.metadata.name)) }
            + Array(repeating: ProviderNode(type: group.groupName, marker: nil), count: max(0, wanted - members.count))
    }

    package func launch(_ type: AutoscalerConfig.NodeType, count: Int) async throws {
        try await change(group: type.name) { group in
            let target = (group.replicas ?? 0) + count
            group.replicas = min(target, group.maxReplicas ?? target)
        }
    }

    package func terminate(markers: [String]) async throws {
        var byGroup: [String: [String]] = [:]
        let groups = (try await rayCluster().spec.workerGroupSpecs ?? []).map(\.groupName)
        for marker in markers {
            guard let (group, pod) = Autoscaler.parse(marker, types: groups) else { continue }
            byGroup[group, default: []].append(pod)
        }
        for (group, pods) in byGroup.sorted(by: { $0.key < $1.key }) {
            try await change(group: group) { spec in
                var deleting = spec.scaleStrategy?.workersToDelete ?? []
                let new = pods.filter { !deleting.contains($0) }
                deleting += new
                spec.replicas = max((spec.replicas ?? 0) - new.count, 0)
                spec.scaleStrategy = .init(workersToDelete: deleting)
            }
        }
    }

    /// Reads the RayCluster, applies `edit` to one worker group, and patches the fields that
    /// changed with the read `resourceVersion` as a precondition; on a conflict, again.
    private func change(group name: String, _ edit: (inout RayClusterObject.WorkerGroup) -> Void) async throws {
        for attempt in 1...attempts {
            let cluster = try await rayCluster()
            guard let index = cluster.spec.workerGroupSpecs?.firstIndex(where: { $0.groupName == name }),
                  let group = cluster.spec.workerGroupSpecs?[index] else {
                throw ProviderError(message: "RayCluster \(endpoint.clusterName) has no worker group \(name)")
            }
            var edited = group
            edit(&edited)
            guard edited != group else { return }
            let patch = Self.patch(from: group, to: edited, index: index, resourceVersion: cluster.metadata.resourceVersion)
            do {
                _ = try await request(.PATCH, clusterPath, body: patch, contentType: "application/json-patch+json")
                return
            } catch let error as KubernetesAPIError where error.status == 409 && attempt < attempts {
                logger.info("RayCluster \(endpoint.clusterName) changed meanwhile (\(error.message)); recomputing")
            }
        }
    }

    /// A JSON patch: the resource version the change was computed from, then the group's changed
    /// fields (`add` sets a member whether or not it is there).
    static func patch(from old: RayClusterObject.WorkerGroup, to new: RayClusterObject.WorkerGroup, index: Int, resourceVersion: String?) -> Data {
        var operations: [PatchOperation] = []
        if let resourceVersion {
            operations.append(PatchOperation(op: "replace", path: "/metadata/resourceVersion", value: .text(resourceVersion)))
        }
        let prefix = "/spec/workerGroupSpecs/\(index)"
        if new.replicas != old.replicas, let replicas = new.replicas {
            operations.append(PatchOperation(op: "add", path: "\(prefix)/replicas", value: .count(replicas)))
        }
        if new.scaleStrategy != old.scaleStrategy {
            operations.append(PatchOperation(op: "add", path: "\(prefix)/scaleStrategy", value: .workersToDelete(new.scaleStrategy?.workersToDelete ?? [])))
        }
        return (try? JSONEncoder().encode(operations)) ?? Data("[]".utf8)
    }

    private func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String? = nil) async throws -> ByteBuffer {
        var request = HTTPClientRequest(url: endpoint.baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let token = endpoint.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let answer = try await response.body.collect(upTo: 64 << 20)
        guard (200..<300).contains(Int(response.status.code)) else {
            let status = try? JSONDecoder().decode(KubernetesStatus.self, from: answer)
            throw KubernetesAPIError(
                status: Int(response.status.code),
                message: "\(method) \(path): \(response.status.code) \(status?.message ?? String(buffer: answer).prefix(200).description)")
        }
        return answer
    }

    private func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: buffer)
        } catch {
            throw ProviderError(message: "the Kubernetes API answered something that is not a \(type): \(error)")
        }
    }
}

/// The Kubernetes API refused a request.
package struct KubernetesAPIError: Error, CustomStringConvertible {
    /// The HTTP status (409: changed meanwhile; 404: no such RayCluster; 403: no permission).
    package let status: Int
    package let message: String
    package var description: String { message }
}

/// A `Status` object, as the API answers errors with.
private struct KubernetesStatus: Decodable {
    var message: String?
}

/// One operation of a JSON patch (RFC 6902).
struct PatchOperation: Encodable {
    enum Value: Encodable {
        case text(String), count(Int), workersToDelete([String])

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .count(let count): try container.encode(count)
            case .workersToDelete(let names): try container.encode(["workersToDelete": names])
            }
        }
    }

    var op: String
    var path: String
    var value: Value
}
