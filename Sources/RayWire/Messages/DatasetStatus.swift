/// A dataset execution as its driver publishes it for the dashboard's Data page and `/metrics`:
/// its state and each operator's blocks, rows, bytes and time. Kept in the key-value store under
/// `namespace`, one key per execution, so the dashboard needs no library of its own.
public struct DatasetStatus: Codable, Sendable, Equatable {
    /// The key-value namespace executions are published in.
    public static let namespace = "_swiftray_data"
    /// Executions a driver keeps published (older ones are deleted as new ones start).
    public static let keptPerDriver = 50

    /// The key: unique per execution.
    public var datasetID: String
    /// The dataset's name (`Dataset.named(_:)`, else `dataset_N`).
    public var name: String
    public var driverPID: Int32
    /// `RUNNING`, `FINISHED` or `FAILED` (Ray Data's states).
    public var state: String
    /// Microseconds since 1970.
    public var startedAt: Int64
    public var updatedAt: Int64
    public var endedAt: Int64?
    public var error: String?
    public var operators: [DatasetOperatorStatus]

    public init(
        datasetID: String, name: String, driverPID: Int32, state: String, startedAt: Int64, updatedAt: Int64, endedAt: Int64?,
        error: String?, operators: [DatasetOperatorStatus]
    ) {
        self.datasetID = datasetID
        self.name = name
        self.driverPID = driverPID
        self.state = state
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.endedAt = endedAt
        self.error = error
        self.operators = operators
    }
}

/// One operator of a published execution, summed over its tasks.
public struct DatasetOperatorStatus: Codable, Sendable, Equatable {
    public var name: String
    /// Tasks finished (a block each).
    public var tasks: Int
    public var rows: Int
    public var bytes: Int
    /// Seconds in this operator, summed over tasks.
    public var seconds: Double
    public var peakBlockBytes: Int

    public init(name: String, tasks: Int, rows: Int, bytes: Int, seconds: Double, peakBlockBytes: Int) {
        self.name = name
        self.tasks = tasks
        self.rows = rows
        self.bytes = bytes
        self.seconds = seconds
        self.peakBlockBytes = peakBlockBytes
    }
}
