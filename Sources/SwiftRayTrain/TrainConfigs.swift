import SwiftRay
import SwiftRayTune

/// How many workers train and what each holds (Ray's `ScalingConfig`).
public struct ScalingConfig: Sendable, Codable, Equatable {
    /// Worker actors, one process each.
    public var numWorkers: Int
    /// Whether each worker takes a GPU (`numGPUs: 1` unless `resourcesPerWorker` says otherwise).
    public var useGPU: Bool
    /// Resources each worker reserves, by name (`"CPU"`, `"GPU"`, custom); default one CPU.
    public var resourcesPerWorker: [String: Double]
    /// How the workers' bundles spread over nodes (default `.pack`, as Ray's).
    public var placementStrategy: PlacementGroupStrategy

    public init(
        numWorkers: Int = 1, useGPU: Bool = false, resourcesPerWorker: [String: Double] = [:],
        placementStrategy: PlacementGroupStrategy? = nil
    ) {
        self.numWorkers = numWorkers
        self.useGPU = useGPU
        self.resourcesPerWorker = resourcesPerWorker
        self.placementStrategy = placementStrategy ?? .pack
    }

    /// One worker's bundle: CPU 1 by default, GPU 1 with `useGPU`, and what was asked.
    var bundle: [String: Double] {
        var bundle = resourcesPerWorker
        if bundle["CPU"] == nil { bundle["CPU"] = 1 }
        if useGPU, bundle["GPU"] == nil { bundle["GPU"] = 1 }
        return bundle.filter { $0.value > 0 }.isEmpty ? ["CPU": 0.001] : bundle.filter { $0.value > 0 }
    }
}

/// How often a run may fail and restart (Ray's `FailureConfig`).
public struct FailureConfig: Sendable, Codable, Equatable {
    /// Restarts allowed after a worker fails (0: none, -1: without limit). Each restart resumes
    /// from the latest complete checkpoint.
    public var maxFailures: Int

    public init(maxFailures: Int = 0) { self.maxFailures = maxFailures }
}

/// A run's name, where its files go, which checkpoints it keeps and how it fails (Ray's `RunConfig`).
public struct RunConfig: Sendable {
    /// The run's name (its folder under `storagePath`).
    public var name: String
    /// A folder on the driver's machine for checkpoints and `result.json` (nil: checkpoints are
    /// kept in the driver's memory only). Workers never write here: rank 0's checkpoint reaches
    /// the driver with its report, so no filesystem is shared between nodes.
    public var storagePath: String?
    /// Which checkpoints are kept: the best `numToKeep` by `scoreAttribute`, and the latest.
    public var checkpointConfig: CheckpointConfig
    public var failureConfig: FailureConfig

    public init(
        name: String = "train", storagePath: String? = nil, checkpointConfig: CheckpointConfig = CheckpointConfig(),
        failureConfig: FailureConfig = FailureConfig()
    ) {
        self.name = name
        self.storagePath = storagePath
        self.checkpointConfig = checkpointConfig
        self.failureConfig = failureConfig
    }
}
