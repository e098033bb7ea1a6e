import RayCluster
import RayNode
import RayPlatform
import RayTransport
import RayWire
import RayWorker

/// The handle to the running cluster. `Ray.start()` returns one; the global `ray` is the same
/// handle, usable anywhere, including inside tasks running on workers.
public struct Ray: Sendable {
    /// Use `Ray.start()` or the global `ray`.
    init() {}

    /// Whether swift-ray runs in this process (a driver after `start`, or a worker).
    public static var isInitialized: Bool { RuntimeRegistry.current != nil }

    /// Starts an embedded local cluster on this machine: a node manager inside this process and a
    /// pool of worker processes started from this same executable.
    ///
    /// - Parameters:
    ///   - numCPUs: CPUs the node offers (default: the machine's cores).
    ///   - numGPUs: GPUs the node offers (default 0).
    ///   - memory: bytes of memory the node offers for scheduling (default: 70% of RAM).
    ///   - resources: custom resources, by name.
    ///   - logToDriver: print workers' output here, prefixed `(name pid=N)` (default true).
    ///   - idleWorkerTimeout: workers beyond the prestarted ones stop after idling this long.
    ///   - objectStoreMemory: bytes of large objects kept in shared memory before the oldest are
    ///     spilled to disk (default: 30% of RAM).
    ///   - spillDirectory: where spilled objects go (default: the temporary directory).
    ///   - objectStoreFullWait: how long a large `put` (or result) waits for room when the store is
    ///     full and nothing can be spilled, before it throws `ObjectStoreFullError` (default 5 s).
    ///   - includeDashboard: serve the web dashboard, its JSON API and `/metrics` (default true; if
    ///     the port is taken, a warning is logged and the cluster starts without it).
    ///   - dashboardHost, dashboardPort: where (default `127.0.0.1:8265`; port 0 picks a free one).
    ///   - runtimeEnv: the job's runtime environment, for every task and actor it starts (each may
    ///     add its own).
    /// - Throws: `RaySystemError` when swift-ray already runs in this process.
    @discardableResult
    public static func start(
        numCPUs: Int? = nil, numGPUs: Int? = nil, memory: Double? = nil, resources: [String: Double] = [:],
        logToDriver: Bool = true, idleWorkerTimeout: Duration = .seconds(10),
        objectStoreMemory: Int? = nil, spillDirectory: String? = nil, objectStoreFullWait: Duration = .seconds(5),
        includeDashboard: Bool = true, dashboardHost: String = "127.0.0.1", dashboardPort: Int = 8265,
        runtimeEnv: RuntimeEnvironment? = nil
    ) async throws -> Ray {
        RuntimeEnvironment.forJob = runtimeEnv ?? RuntimeEnvironment()
        if let address = getenvString("SWIFTRAY_ADDRESS"), !address.isEmpty {
            return try await start(address: address, runtimeEnv: runtimeEnv)
        }
        let cpus = numCPUs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        guard cpus >= 0, (numGPUs ?? 0) >= 0, resources.values.allSatisfy({ $0 >= 0 }) else {
            throw RaySystemError(message: "resource amounts cannot be negative")
        }
        var total = resources
        total["CPU"] = Double(cpus)
        total["GPU"] = Double(numGPUs ?? 0)
        total["memory"] = (memory ?? Self.physicalMemory * 0.7).rounded(.down)
        let nodeID = "node-\(getpid())"
        let config = NodeConfig(
            nodeID: nodeID, resources: total, workerExecutable: WorkerExecutable.path,
            prestartWorkers: min(cpus, 16), logToDriver: logToDriver,
            idleWorkerTimeout: max(idleWorkerTimeout, .milliseconds(1)),
            objectDirectory: .forNode(
                nodeID, capacity: objectStoreMemory ?? Int(Self.physicalMemory * 0.3), spillBase: spillDirectory,
                fullWait: objectStoreFullWait),
            logsFolder: "\(ClusterFiles().root)/sessions/\(nodeID)/logs")
        let sockets = OwnSockets.current()
        defer { OwnSockets.keepFromChildren(openedSince: sockets) }  // its servers, from the program's children
        let cluster = LocalCluster(config: config)
        guard RuntimeRegistry.install(cluster) else {
            await cluster.shutdown()
            throw RaySystemError(message: "swift-ray is already running in this process; call shutdown() first")
        }
        await cluster.serveControlPort()
        try await Ray().checkJobEnvironment()
        if includeDashboard {
            await DashboardHolder.start(
                host: dashboardHost, port: dashboardPort, logs: { await cluster.logs($0) }, keyValues: { try await cluster.kv($0) }
            ) {
                try await cluster.clusterState()
            }
        }
        return Ray()
    }

    /// Stops the cluster this driver started: every worker exits and is reaped.
    /// Packs the job's working directory now, so a problem with it stops `start` (which then
    /// shuts down again).
    func checkJobEnvironment() async throws {
        do {
            _ = try RuntimeEnvironment.forJob.workerVariables()
        } catch {
            try? await shutdown()
            throw error
        }
    }

    public func shutdown() async throws {
        guard let runtime = RuntimeRegistry.current else { throw RaySystemError.notStarted }
        WorkingDirectory.reset()
        if let remote = runtime as? WorkerRuntime, remote.role == .driver {
            _ = RuntimeRegistry.remove()
            return await remote.disconnect()
        }
        guard let cluster = runtime as? LocalCluster else {
            throw RaySystemError(message: "shutdown() is for the driver; a task cannot stop the cluster")
        }
        _ = RuntimeRegistry.remove()
        await DashboardHolder.stop()
        await cluster.shutdown()
    }

    /// The value of `ref`, waiting up to `timeout` (forever when nil).
    /// - Throws: `GetTimeoutError`, or the typed error the object holds (`RayTaskError`, ...).
    @inlinable
    public func get<T>(_ ref: ObjectRef<T>, timeout: Duration? = nil) async throws -> T {
        try await get([ref], timeout: timeout)[0]
    }

    /// The values of `refs`, in order.
    @inlinable  // specialized at the call site: no generic metadata lookups per element
    public func get<T>(_ refs: [ObjectRef<T>], timeout: Duration? = nil) async throws -> [T] {
        var ids: [ObjectID] = []
        ids.reserveCapacity(refs.count)
        for ref in refs { ids.append(ref.id) }
        let payloads = try await _payloads(ids, timeout: timeout)
        var values: [T] = []
        values.reserveCapacity(payloads.count)
        for payload in payloads { values.append(try Self.decode(T.self, payload)) }
        return values
    }

    /// The payloads of `ids`, in order (the non-generic half of `get`).
    @usableFromInline
    func _payloads(_ ids: [ObjectID], timeout: Duration?) async throws -> [ObjectPayload] {
        let runtime = try RuntimeRegistry.require()
        if ids.isEmpty { return [] }
        if ids.contains(.none) { throw RaySystemError.notStarted }
        guard let payloads = try await runtime.get(ids, timeout: timeout) else {
            throw GetTimeoutError(timeout: timeout ?? .zero)
        }
        return payloads
    }

    /// Waits until `numReturns` of `refs` are ready or `timeout` passes; returns the ready ones (at
    /// most `numReturns`, in the order given) and the rest.
    @inlinable  // specialized at the call site
    public func wait<T>(
        _ refs: [ObjectRef<T>], numReturns: Int = 1, timeout: Duration? = nil
    ) async throws -> (ready: [ObjectRef<T>], notReady: [ObjectRef<T>]) {
        var ids: [ObjectID] = []
        ids.reserveCapacity(refs.count)
        for ref in refs { ids.append(ref.id) }
        let readyIndices = try await _readyIndices(ids, numReturns: numReturns, timeout: timeout)
        return Self.split(refs, readyAt: readyIndices)
    }

    /// `wait` over refs of different value types, as Ray's `wait` takes any refs together:
    /// `try await ray.wait([numbersRef, nameRef], numReturns: 2)`. Refs of one type take the typed
    /// `wait` (disfavoured here, so `[ref]` stays `[ObjectRef<T>]`).
    @_disfavoredOverload
    public func wait(
        _ refs: [any ObjectRefProtocol], numReturns: Int = 1, timeout: Duration? = nil
    ) async throws -> (ready: [any ObjectRefProtocol], notReady: [any ObjectRefProtocol]) {
        let readyIndices = try await _readyIndices(refs.map(\.id), numReturns: numReturns, timeout: timeout)
        return Self.split(refs, readyAt: readyIndices)
    }

    /// `refs` split into those at `readyIndices` (ascending) and the rest, each in the order given.
    @inlinable
    static func split<Ref>(_ refs: [Ref], readyAt readyIndices: ArraySlice<Int>) -> (ready: [Ref], notReady: [Ref]) {
        var ready: [Ref] = []
        var notReady: [Ref] = []
        ready.reserveCapacity(readyIndices.count)
        notReady.reserveCapacity(refs.count - readyIndices.count)
        var next = readyIndices.startIndex
        for (index, ref) in refs.enumerated() {
            if next < readyIndices.endIndex, readyIndices[next] == index {
                ready.append(ref)
                next += 1
            } else {
                notReady.append(ref)
            }
        }
        return (ready, notReady)
    }

    /// Positions of the first `numReturns` ready objects (the non-generic half of `wait`).
    @usableFromInline
    func _readyIndices(_ ids: [ObjectID], numReturns: Int, timeout: Duration?) async throws -> ArraySlice<Int> {
        let runtime = try RuntimeRegistry.require()
        if ids.isEmpty { return [] }  // Ray's `wait([])`: nothing ready, nothing not ready
        guard numReturns >= 0, numReturns <= ids.count else {
            throw RaySystemError(message: "numReturns (\(numReturns)) must be between 0 and the number of refs (\(ids.count))")
        }
        guard !RayID.containsDuplicates(ids) else { throw RaySystemError(message: "wait() got duplicate refs") }
        return try await runtime.wait(ids, numReturns: numReturns, timeout: timeout).prefix(numReturns)
    }

    /// Stores `value` in the cluster and returns its ref; tasks given the ref receive the value.
    /// - Throws: `RaySerializationError` naming the type if it cannot be encoded;
    ///   `HeadConnectionLostError` when this process's cluster head is gone (nothing would keep it).
    public func put<T: Codable & Sendable>(_ value: T) throws -> ObjectRef<T> {
        let runtime = try RuntimeRegistry.require()
        if let lost = runtime.connectionLost { throw lost }
        let id = runtime.newID()
        let encoded: EncodedValue
        do {
            encoded = try SharedStore.encodeObject(value, id: id)
        } catch let error as ObjectStoreFullError {
            throw error
        } catch {
            throw RaySerializationError(typeName: String(reflecting: T.self), reason: "cannot encode: \(error)")
        }
        runtime.put(id, .value(encoded))
        return ObjectRef(created: id)
    }

    /// Cancels the task that produces `ref`: a queued task never runs, a running one is cancelled
    /// through Swift task cancellation (`force` kills its worker instead), and with `recursive` the
    /// tasks it submitted are cancelled too. `get` then throws `TaskCancelledError`.
    public func cancel<T>(_ ref: ObjectRef<T>, force: Bool = false, recursive: Bool = true) throws {
        let runtime = try RuntimeRegistry.require()
        runtime.cancel(ref.id, force: force, recursive: recursive)
    }

    /// The node this process runs on (a worker's node, or the driver's), or nil before `start`.
    public var nodeID: String? { RuntimeRegistry.current?.nodeID }

    /// The task this code runs in, or nil in the driver.
    public var taskContext: TaskContext? { TaskContext.current }

    @usableFromInline
    static func decode<T: Decodable>(_ type: T.Type, _ payload: ObjectPayload) throws -> T {
        switch payload {
        case .error(let info):
            throw info.typedError
        case .value(let value):
            do {
                return try SharedStore.decode(T.self, from: value)
            } catch let error as ObjectLostError {
                throw error
            } catch {
                throw RaySerializationError(typeName: String(reflecting: T.self), reason: "cannot decode: \(error)")
            }
        }
    }

    static var physicalMemory: Double {
        Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// The cluster handle, usable anywhere (in the driver after `Ray.start()`, and inside tasks).
public let ray = Ray()

/// Which binary workers run.
enum WorkerExecutable {
    /// `SWIFTRAY_WORKER_EXECUTABLE` if set, else this process's own executable.
    static var path: String {
        getenvString("SWIFTRAY_WORKER_EXECUTABLE") ?? currentExecutable()
    }

    static func currentExecutable() -> String {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 { return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        #endif
        return CommandLine.arguments.first ?? ""
    }
}

extension Ray {
    /// What the node's object table holds: objects and bytes (driver only).
    public func objectStoreStats() async throws -> ObjectStoreStats {
        guard let cluster = try RuntimeRegistry.require() as? LocalCluster else {
            throw RaySystemError(message: "objectStoreStats() is for the driver")
        }
        return await cluster.objectStoreStats()
    }

    /// Process ids of this node's live worker processes (driver only; empty in a worker).
    public func workerPIDs() async -> [Int32] {
        guard let cluster = RuntimeRegistry.current as? LocalCluster else { return [] }
        return await cluster.workerPIDs()
    }
}
