import Foundation
import RayAutoscaler
import RayCluster
import RayTransport
import Yams

/// The head as the autoscaler sees it.
struct HeadAutoscaling: AutoscaledCluster {
    let head: ClusterHead

    func observe() async -> (nodes: [ObservedNode], demands: [ResourceDemand]) {
        let view = await head.autoscalingView()
        let nodes = view.status.nodes.filter(\.alive).map {
            ObservedNode(
                id: $0.id, total: $0.total, available: $0.available, storedObjects: $0.storedObjects, startingWorkers: $0.startingWorkers)
        }
        return (nodes, view.demands.map { ResourceDemand($0.shape, count: $0.count, spreadGroup: $0.spreadGroup) })
    }

    func drain(_ nodeID: String) async { head.drain(nodeID) }

    func report(_ lines: [String]) async { head.setAutoscalerReport(lines) }

    /// Reads an autoscaling config (YAML or JSON: `idleTimeoutSeconds`, `nodeTypes` with `name`,
    /// `resources`, `minWorkers`, `maxWorkers`).
    /// - Throws: `ClusterError` naming what is wrong.
    static func config(_ path: String) throws -> AutoscalerConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ClusterError("cannot read \(path)") }
        let config: AutoscalerConfig
        do {
            config = try YAMLDecoder().decode(AutoscalerConfig.self, from: text)
        } catch {
            throw ClusterError("\(path) is not an autoscaling config: \(error)")
        }
        if let problem = config.problem { throw ClusterError("\(path): \(problem)") }
        return config
    }

    /// Starts the autoscaler with the local provider (nodes as daemons on this machine); returns
    /// a stop that ends the loop and the nodes it started.
    /// `tls`: the head serves TLS (its nodes trust the certificate in the cluster files).
    static func start(_ config: AutoscalerConfig, head: ClusterHead, address: String, token: String, files: ClusterFiles, tls: Bool) -> @Sendable () async -> Void {
        head.setAutoscalingNodeTypes(config.nodeTypes.map(\.resources))
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let provider = LocalNodeProvider(
            executable: executable, headAddress: address, token: token, folder: "\(files.root)/autoscaler",
            tlsCertificate: tls ? files.tlsCertificateFile : nil)
        let autoscaler = Autoscaler(config: config, cluster: HeadAutoscaling(head: head), provider: provider)
        let loop = Task { await autoscaler.run() }
        return {
            loop.cancel()
            _ = await loop.value
            await provider.terminateAll()
        }
    }
}
