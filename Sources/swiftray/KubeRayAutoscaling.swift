import ArgumentParser
import Foundation
import Logging
import NIOPosix
import RayAutoscaler
import RayTransport
import RayWire

/// The head as an autoscaler outside it reads it: a client connection over the cluster port
/// (reopened when it drops; the node types are sent again on each new one).
actor RemoteAutoscaling: AutoscaledCluster {
    private let host: String
    private let port: Int
    private let token: String
    private let files: ClusterFiles
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var connection: HeadConnection?
    private var requests: UInt64 = 0
    private var nodeTypes: [[String: Double]] = []

    init(host: String, port: Int, token: String, files: ClusterFiles) {
        self.host = host
        self.port = port
        self.token = token
        self.files = files
    }

    func observe() async throws -> (nodes: [ObservedNode], demands: [ResourceDemand]) {
        let connection = try await connected()
        requests += 1
        connection.send(.control(.autoscalingViewRequest(requestID: requests)))
        do {
            guard case .autoscalingView(_, let view) = try await connection.nextControl(timeout: .seconds(10)) else {
                throw ClusterError("the head answered something else than its autoscaling view")
            }
            let nodes = view.status.nodes.filter(\.alive).map {
                ObservedNode(
                id: $0.id, total: $0.total, available: $0.available, storedObjects: $0.storedObjects, startingWorkers: $0.startingWorkers)
            }
            return (nodes, view.demands.map { ResourceDemand($0.shape, count: $0.count, spreadGroup: $0.spreadGroup) })
        } catch {
            drop()
            throw error
        }
    }

    func drain(_ nodeID: String) async { try? await send(AutoscalerUpdate(drain: [nodeID])) }

    func report(_ lines: [String]) async { try? await send(AutoscalerUpdate(report: lines)) }

    /// The shapes of the node types (work that fits one waits for it instead of failing).
    func setNodeTypes(_ types: [[String: Double]]) async {
        nodeTypes = types
        try? await send(AutoscalerUpdate(nodeTypes: types))
    }

    func close() async {
        drop()
        try? await group.shutdownGracefully()
    }

    private func send(_ update: AutoscalerUpdate) async throws {
        try await connected().send(.control(.autoscalerUpdate(update)))
    }

    private func connected() async throws -> HeadConnection {
        if let connection, connection.channel.isActive { return connection }
        drop()
        let hello = Hello(token: token, role: .client, pid: getpid(), host: HeadConnection.hostName)
        let new = try await HeadConnection.connect(host: host, port: port, hello: hello, group: group, tls: try TLSSupport.client(files: files))
        guard case .welcome = try await new.nextControl() else {
            new.close()
            throw ClusterError("the head at \(host):\(port) refused the connection")
        }
        connection = new
        if !nodeTypes.isEmpty { new.send(.control(.autoscalerUpdate(AutoscalerUpdate(nodeTypes: nodeTypes)))) }
        return new
    }

    private func drop() {
        connection?.close()
        connection = nil
    }
}

/// `swiftray autoscaler`: Ray's autoscaler for a swift-ray cluster run by KubeRay, as KubeRay's
/// autoscaler sidecar runs it (`ray kuberay-autoscaler --cluster-name N --cluster-namespace NS`
/// lands here). It reads the RayCluster's worker groups as node types, the head's nodes and
/// waiting demand over the cluster port, and scales the groups through the Kubernetes API.
struct AutoscalerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoscaler",
        abstract: "Scale a KubeRay RayCluster's worker groups with the cluster's demand (KubeRay's autoscaler sidecar).")

    @Option(help: "The RayCluster's name (default: RAY_CLUSTER_NAME).")
    var clusterName: String?

    @Option(help: "The RayCluster's namespace (default: RAY_CLUSTER_NAMESPACE, else the pod's own).")
    var clusterNamespace: String?

    @Option(help: "The Kubernetes API, e.g. https://10.0.0.1:443 (default: the in-cluster API with the pod's service account).")
    var kubernetesAPI: String?

    @Option(help: "With --kubernetes-api: a file holding the bearer token to send.")
    var kubernetesTokenFile: String?

    @Option(help: "With --kubernetes-api: the CA certificate (PEM) of the API server.")
    var kubernetesCA: String?

    @Option(help: "Seconds between decisions.")
    var interval: Double = 1

    @OptionGroup var cluster: ClusterOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let name = clusterName ?? environment["RAY_CLUSTER_NAME"] else {
            throw ValidationError("no RayCluster name: pass --cluster-name or set RAY_CLUSTER_NAME")
        }
        let provider = try KubeRayNodeProvider(endpoint: endpoint(name, namespace: clusterNamespace ?? environment["RAY_CLUSTER_NAMESPACE"]))
        let files = ClusterFiles(root: cluster.tempDir)
        let target = try ClusterAddress.resolve(cluster.address, files: files)
        guard let token = ClusterToken.resolve(cluster.token, files: files) else { throw ClusterError("no cluster token: pass --token or set SWIFTRAY_TOKEN") }
        let head = RemoteAutoscaling(host: target.host, port: target.port, token: token, files: files)
        let config = try await Self.readConfig(provider)
        await head.setNodeTypes(config.nodeTypes.map(\.resources))
        let autoscaler = Autoscaler(config: config, cluster: head, provider: provider)
        print("swift-ray autoscaler for RayCluster \(name): \(config.nodeTypes.map { "\($0.name) (\($0.minWorkers)-\($0.maxWorkers))" }.joined(separator: ", "))")
        let loop = Task { await Self.run(autoscaler, provider: provider, head: head, every: .milliseconds(Int64(interval * 1000))) }
        await Daemons.waitForTermination()
        loop.cancel()
        _ = await loop.value
        await head.close()
        await provider.shutdown()
    }

    private func endpoint(_ name: String, namespace: String?) throws -> KubeRayNodeProvider.Endpoint {
        guard let kubernetesAPI else { return try .inCluster(clusterName: name, namespace: namespace) }
        let token = try kubernetesTokenFile.map { try String(contentsOfFile: $0, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        return .init(baseURL: kubernetesAPI, namespace: namespace ?? "default", clusterName: name, token: token, caFile: kubernetesCA)
    }

    /// The RayCluster's worker groups as node types, waiting while the API cannot be reached.
    private static func readConfig(_ provider: KubeRayNodeProvider) async throws -> AutoscalerConfig {
        var delay = Duration.milliseconds(200)
        while true {
            do {
                let config = try await provider.rayCluster().autoscalerConfig
                if let problem = config.problem { throw ClusterError("the RayCluster's worker groups cannot be autoscaled: \(problem)") }
                return config
            } catch let error as KubernetesAPIError where error.status == 401 || error.status == 403 || error.status == 404 {
                throw ClusterError("\(error)")
            } catch let error as ClusterError {
                throw error
            } catch {
                Logger(label: "swiftray.autoscaler").warning("cannot read the RayCluster yet: \(error)")
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Steps, picking up edits of the RayCluster's worker groups every few seconds.
    private static func run(_ autoscaler: Autoscaler, provider: KubeRayNodeProvider, head: RemoteAutoscaling, every interval: Duration) async {
        var lastRead = ContinuousClock.now
        while !Task.isCancelled {
            await autoscaler.step()
            if ContinuousClock.now - lastRead > .seconds(5), let config = try? await provider.rayCluster().autoscalerConfig, config.problem == nil {
                lastRead = .now
                if await autoscaler.config != config {
                    await autoscaler.update(config)
                    await head.setNodeTypes(config.nodeTypes.map(\.resources))
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
