import Foundation

/// The parts of a KubeRay `RayCluster` object (ray.io/v1) the autoscaler reads; everything else in
/// it is left alone (changes go out as JSON patches of single fields).
package struct RayClusterObject: Codable, Sendable, Equatable {
    package struct Metadata: Codable, Sendable, Equatable {
        package var name: String?
        package var resourceVersion: String?
    }

    package struct Spec: Codable, Sendable, Equatable {
        package var enableInTreeAutoscaling: Bool?
        package var autoscalerOptions: AutoscalerOptions?
        package var workerGroupSpecs: [WorkerGroup]?
    }

    package struct AutoscalerOptions: Codable, Sendable, Equatable {
        package var idleTimeoutSeconds: Int?
    }

    /// A worker group: a node type whose pods KubeRay keeps at `replicas`.
    package struct WorkerGroup: Codable, Sendable, Equatable {
        package var groupName: String
        package var replicas: Int?
        package var minReplicas: Int?
        package var maxReplicas: Int?
        package var suspend: Bool?
        package var rayStartParams: [String: String]?
        package var scaleStrategy: ScaleStrategy?
        package var template: PodTemplate?
    }

    package struct ScaleStrategy: Codable, Sendable, Equatable {
        package var workersToDelete: [String]?
    }

    package struct PodTemplate: Codable, Sendable, Equatable {
        package struct PodSpec: Codable, Sendable, Equatable {
            package var containers: [Container]?
        }

        package struct Container: Codable, Sendable, Equatable {
            package struct Resources: Codable, Sendable, Equatable {
                package var limits: [String: String]?
                package var requests: [String: String]?
            }

            package var resources: Resources?
        }

        package var spec: PodSpec?
    }

    package var metadata: Metadata
    package var spec: Spec

    /// The autoscaler's configuration as KubeRay's autoscaler derives it: a node type per worker
    /// group (`minReplicas`/`maxReplicas`), its resources from `rayStartParams` (`num-cpus`,
    /// `num-gpus`, `memory`, `resources`) or else the Ray container's limits (then requests), and
    /// `autoscalerOptions.idleTimeoutSeconds` (default 60).
    package var autoscalerConfig: AutoscalerConfig {
        let types = (spec.workerGroupSpecs ?? []).map { group in
            AutoscalerConfig.NodeType(
                name: group.groupName, resources: group.resources,
                minWorkers: group.minReplicas ?? 0, maxWorkers: group.maxReplicas ?? Int(Int32.max))
        }
        return AutoscalerConfig(nodeTypes: types, idleTimeoutSeconds: Double(spec.autoscalerOptions?.idleTimeoutSeconds ?? 60))
    }
}

extension RayClusterObject.WorkerGroup {
    /// What each of its nodes offers Ray.
    package var resources: [String: Double] {
        let params = rayStartParams ?? [:]
        let container = template?.spec?.containers?.first?.resources
        func quantity(_ key: String) -> Double? {
            (container?.limits?[key] ?? container?.requests?[key]).flatMap(KubernetesQuantity.value)
        }
        var resources: [String: Double] = [:]
        resources["CPU"] = params["num-cpus"].flatMap { Double($0) } ?? quantity("cpu").map { $0.rounded(.up) }
        let gpuKey = (container?.limits ?? [:]).keys.first { $0.hasSuffix("gpu") }
        resources["GPU"] = params["num-gpus"].flatMap { Double($0) } ?? gpuKey.flatMap(quantity)
        resources["memory"] = params["memory"].flatMap { Double($0) } ?? quantity("memory")
        for (name, amount) in Self.customResources(params["resources"]) { resources[name] = amount }
        return resources.filter { $0.value > 0 }
    }

    /// `rayStartParams.resources` as KubeRay users write it: JSON, often wrapped in quotes with
    /// escaped inner quotes (`'"{\"Custom\": 1}"'`).
    static func customResources(_ text: String?) -> [String: Double] {
        guard var text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return [:] }
        while let first = text.first, first == "'" || first == "\"", text.last == first, text.count >= 2 {
            text = String(text.dropFirst().dropLast())
        }
        text = text.replacingOccurrences(of: "\\\"", with: "\"")
        return (try? JSONDecoder().decode([String: Double].self, from: Data(text.utf8))) ?? [:]
    }
}

/// Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `128974848`, `129e6`, `128M`).
package enum KubernetesQuantity {
    private static let suffixes: [(String, Double)] = [
        ("Ki", 0x1p10), ("Mi", 0x1p20), ("Gi", 0x1p30), ("Ti", 0x1p40), ("Pi", 0x1p50), ("Ei", 0x1p60),
        ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18),
    ]

    /// The quantity as a number, or nil when it is not one.
    package static func value(_ text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in suffixes where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return Double(text)
    }
}

/// The pods of a list answer (`GET /api/v1/namespaces/NS/pods`).
package struct PodList: Codable, Sendable {
    package struct Pod: Codable, Sendable {
        package struct Metadata: Codable, Sendable {
            package var name: String
            package var labels: [String: String]?
            package var deletionTimestamp: String?
        }

        package var metadata: Metadata
    }

    package var items: [Pod]
}
