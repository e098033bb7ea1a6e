import Foundation
import RayWire

/// A submitted job's state (Ray's `JobStatus`).
package enum JobStatus: String, Codable, Sendable, CaseIterable {
    case pending = "PENDING"
    case running = "RUNNING"
    case stopped = "STOPPED"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"

    /// Whether the job is over (it never changes again).
    package var isTerminal: Bool { self == .stopped || self == .succeeded || self == .failed }
}

/// A submission (Ray's `JobSubmitRequest`, JSON with Ray's keys, so Ray's clients send it as is).
package struct JobSubmitRequest: Codable, Sendable {
    package var entrypoint: String
    package var submissionID: String?
    /// Deprecated by Ray in favour of `submission_id`; used when that is missing.
    package var jobID: String?
    /// `env_vars` and `working_dir` are applied; the rest is kept with the record.
    package var runtimeEnv: [String: JSONValue]?
    package var metadata: [String: String]?
    package var entrypointNumCPUs: Double?
    package var entrypointNumGPUs: Double?
    package var entrypointMemory: Int?
    package var entrypointResources: [String: Double]?

    /// What the entrypoint needs set aside in the cluster while it runs (Ray's entrypoint
    /// resources: CPU, GPU, memory and custom ones); empty when nothing was asked for.
    package var entrypointDemand: [String: Double] {
        var demand = entrypointResources ?? [:]
        demand["CPU"] = entrypointNumCPUs
        demand["GPU"] = entrypointNumGPUs
        demand["memory"] = entrypointMemory.map(Double.init)
        return demand.filter { $0.value > 0 }
    }

    package init(entrypoint: String, submissionID: String? = nil, runtimeEnv: [String: JSONValue]? = nil, metadata: [String: String]? = nil) {
        self.entrypoint = entrypoint
        self.submissionID = submissionID
        self.runtimeEnv = runtimeEnv
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case entrypoint, metadata
        case submissionID = "submission_id", jobID = "job_id", runtimeEnv = "runtime_env"
        case entrypointNumCPUs = "entrypoint_num_cpus", entrypointNumGPUs = "entrypoint_num_gpus"
        case entrypointMemory = "entrypoint_memory", entrypointResources = "entrypoint_resources"
    }
}

/// One submitted job as the API shows it (Ray's `JobDetails`, same JSON keys) and as the head
/// keeps it on disk.
package struct JobRecord: Codable, Sendable, Equatable {
    package var type = "SUBMISSION"
    package var jobID: String?
    package var submissionID: String
    package var status: JobStatus
    package var entrypoint: String
    package var message: String?
    package var errorType: String?
    /// Milliseconds since the Unix epoch.
    package var startTime: Int64?
    package var endTime: Int64?
    package var metadata: [String: String]?
    package var runtimeEnv: [String: JSONValue]?
    package var driverNodeID: String?
    package var driverExitCode: Int32?
    package var entrypointNumCPUs: Double?
    package var entrypointNumGPUs: Double?
    package var entrypointMemory: Int?
    package var entrypointResources: [String: Double]?
    /// The entrypoint's shell (its process group leader), while it runs.
    package var pid: Int32?

    enum CodingKeys: String, CodingKey {
        case type, status, entrypoint, message, metadata, pid
        case jobID = "job_id", submissionID = "submission_id", errorType = "error_type"
        case startTime = "start_time", endTime = "end_time", runtimeEnv = "runtime_env"
        case driverNodeID = "driver_node_id", driverExitCode = "driver_exit_code"
        case entrypointNumCPUs = "entrypoint_num_cpus", entrypointNumGPUs = "entrypoint_num_gpus"
        case entrypointMemory = "entrypoint_memory", entrypointResources = "entrypoint_resources"
    }

    /// The row the state API shows for it.
    package var state: JobState {
        JobState(
            jobID: submissionID, driverPID: pid ?? 0, status: status.rawValue, binary: entrypoint, startedAt: (startTime ?? 0) * 1000,
            endedAt: endTime.map { $0 * 1000 }, type: type)
    }
}

/// Why the job API refused a request; `status` is the HTTP status Ray answers with.
package struct JobError: Error, CustomStringConvertible, Sendable {
    package enum Kind: Sendable { case badRequest, notFound, internalError }
    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}

extension Date {
    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
}

/// Where a job's entrypoint runs when it asks for resources (Ray schedules the job's supervisor
/// with them): they are set aside in the cluster while it runs, so tasks cannot take them, and
/// the entrypoint runs on the node that holds them.
package protocol JobPlacement: Sendable {
    /// Waits until `resources` are set aside (cancellable).
    /// - Throws: when no node, nor any the autoscaler could add, could ever hold them.
    func reserve(_ resources: [String: Double], forJob id: String) async throws -> Reservation
    /// Starts an entrypoint on another node (its output and end come back through the manager's
    /// `remoteOutput` and `remoteExited`).
    /// - Throws: when that node cannot be reached.
    func run(_ launch: EntrypointLaunch, on nodeID: String) async throws
    /// Asks that node to stop it.
    func stop(jobID: String, on nodeID: String) async
}

/// Resources set aside for an entrypoint.
package struct Reservation: Sendable {
    /// The node holding them; nil: the head itself.
    package var nodeID: String?
    /// Gives them back.
    package var release: @Sendable () async -> Void

    package init(nodeID: String?, release: @escaping @Sendable () async -> Void) {
        self.nodeID = nodeID
        self.release = release
    }
}
