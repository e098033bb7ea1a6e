import Foundation
import SwiftRay

/// The controller's applications as the dashboard sees them: one `ServeHostStatus` under
/// `publishKey` in the cluster's key-value store, rewritten every second while the proxy runs and
/// after every change. A failed write is reported once and never stops serving.
extension ServeController {
    func startPublishing() {
        guard publisher == nil else { return }
        publisher = Task { [weak self] in
            var complained = false
            while (try? await Task.sleep(for: .seconds(1))) != nil {
                guard let self else { return }
                await self.syncRoutes()
                if !(await self.publish()), !complained {
                    complained = true
                    FileHandle.standardError.write(Data("serve: cannot publish the applications to the dashboard; going on without it\n".utf8))
                }
            }
        }
    }

    /// Writes this host's status; false when the write failed.
    @discardableResult
    func publish() async -> Bool {
        guard url != nil else { return true }
        let status = await hostStatus()
        guard let data = try? JSONEncoder().encode(status) else { return false }
        return (try? await ray.kv.put(publishKey, Array(data), namespace: ServeDeployConfig.namespace)) != nil
    }

    func hostStatus() async -> ServeHostStatus {
        var statuses: [ServeApplicationStatus] = []
        for (name, running) in applications {
            let deployment = await running.replicas.status()
            statuses.append(ServeApplicationStatus(
                name: name, routePrefix: running.prefix, status: deployment.status == "UPDATING" ? "DEPLOYING" : "RUNNING", message: "",
                lastDeployedTimeS: running.deployedAt.timeIntervalSince1970, deployment: deployment))
        }
        for (name, failure) in failures where applications[name] == nil {
            statuses.append(ServeApplicationStatus(
                name: name, routePrefix: failure.prefix, status: "DEPLOY_FAILED", message: failure.message, lastDeployedTimeS: 0,
                deployment: ServeDeploymentStatus.none(name)))
        }
        for (name, prefix) in deploying where applications[name] == nil {
            statuses.append(ServeApplicationStatus(
                name: name, routePrefix: prefix, status: "DEPLOYING", message: "", lastDeployedTimeS: 0, deployment: .none(name)))
        }
        return ServeHostStatus(
            pid: getpid(), nodeID: ray.runtimeContext.nodeID, proxyURL: url, nodeProxies: await nodeProxies.urls,
            updatedAt: Int64(Date().timeIntervalSince1970 * 1e6),
            builders: ServeBuilders.names, appliedConfig: appliedConfig.map { String(decoding: $0, as: UTF8.self) },
            configError: configError, applications: statuses.sorted { $0.name < $1.name })
    }
}

extension ServeDeploymentStatus {
    /// A deployment with no replicas yet.
    static func none(_ name: String) -> ServeDeploymentStatus {
        ServeDeploymentStatus(
            name: name, status: "UPDATING", targetReplicas: 0, runningReplicas: 0, ongoingRequests: 0, queuedRequests: 0, served: 0, failed: 0,
            refused: 0, replaced: 0, latencyBucketsMs: [], latencyCounts: [], latencySumMs: 0, p50Ms: nil, p99Ms: nil)
    }
}
