import ArgumentParser
import Foundation
import NIOPosix
import RayAutoscaler
import RayCluster
import RayDashboard
import RayHeadStore
import RayJobs
import RayNode
import RayPlatform
import RayTLS
import RayTransport
import RayWire

/// `swiftray start`: a head (`--head`) or a worker node (`--address HOST:PORT`) on this machine,
/// as a background daemon (or in the foreground with `--block`).
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start the cluster's head (--head) or join a cluster (--address HOST:PORT) on this machine.")

    @Flag(help: "Start the head: control plane, scheduler and this machine's node.")
    var head = false

    @Option(help: "The head to join, HOST:PORT (worker nodes).")
    var address: String?

    @Option(help: "The head's port (0: any free port).")
    var port: Int = 6379

    @Option(help: "The interface the head listens on.")
    var host: String = "0.0.0.0"

    @Option(name: .customLong("num-cpus"), help: "CPUs this node offers (default: its cores).")
    var numCPUs: Int?

    @Option(name: .customLong("num-gpus"), help: "GPUs this node offers.")
    var numGPUs: Int = 0

    @Option(help: "Bytes of memory this node offers for scheduling (default: 70% of RAM).")
    var memory: Double?

    @Option(help: "Custom resources as JSON, e.g. '{\"accelerator\": 1}'.")
    var resources: String?

    @Option(help: "Bytes of this node's shared-memory object store (default: 30% of RAM).")
    var objectStoreMemory: Int?

    @Option(help: "The cluster token (head default: a new random one; node default: SWIFTRAY_TOKEN, SWIFTRAY_TOKEN_FILE or this machine's token file).")
    var token: String?

    @Option(help: "Seconds without a heartbeat after which the head declares a node dead.")
    var nodeTimeout: Double = 10

    @Option(help: "Node: seconds to keep trying to rejoin after losing the head (it restarted, or the network failed); 0: exit at once.")
    var headReconnectTimeout: Double = 60

    @Option(help: "Folder for this machine's cluster files (default: SWIFTRAY_TEMP_DIR or /tmp/swiftray).")
    var tempDir: String?

    @Option(help: "Serve the web dashboard, its JSON API and /metrics from the head (true/false).")
    var includeDashboard: Bool = true

    @Option(help: "The dashboard's interface (off loopback it requires the cluster token).")
    var dashboardHost: String = "127.0.0.1"

    @Option(help: "The dashboard's port (0: any free port).")
    var dashboardPort: Int = 8265

    @Flag(help: "Secure the cluster's network links with TLS. Head: serve TLS with --tls-cert/--tls-key, or a certificate generated now (written to the cluster files). Node: trust --tls-ca, SWIFTRAY_TLS_CA_FILE, or the certificate of a TLS head on this machine.")
    var tls = false

    @Option(help: "Head with --tls: the certificate (PEM) to serve; nodes and drivers must trust it.")
    var tlsCert: String?

    @Option(help: "Head with --tls: the certificate's private key (PEM).")
    var tlsKey: String?

    @Option(help: "Node: the cluster's TLS certificate (PEM) to trust; implies --tls. Passed on to its workers.")
    var tlsCa: String?

    @Flag(help: "Stay in the foreground until SIGTERM/SIGINT instead of starting a background daemon.")
    var block = false

    @Option(help: "Head: an autoscaling config (YAML/JSON: idleTimeoutSeconds, nodeTypes with name, resources, minWorkers, maxWorkers); nodes are launched on this machine as demand needs them.")
    var autoscalingConfig: String?

    @Option(help: "Head: where its control state (key-value store, detached actors and placement groups) is written through to, read back if the head restarts after a crash: a SQLite file (default: head_state.sqlite in the cluster folder), a PostgreSQL database (postgres://USER@HOST:PORT/DATABASE, the password in the URL or PGPASSWORD; over a Unix socket postgres://USER@/DATABASE?host=/socket/folder) for heads whose machine can be lost, or 'none'; default also from SWIFTRAY_STATE_STORE. A clean stop removes the SQLite file and keeps a database's state.")
    var stateStore: String?

    @Option(help: "Serve GET /api/local_raylet_healthz on this port on every interface (Ray's dashboard agent port, which KubeRay probes).")
    var healthPort: Int?

    func validate() throws {
        guard head != (address != nil) else { throw ValidationError("give either --head or --address HOST:PORT") }
        guard (0..<65536).contains(port) else { throw ValidationError("--port must be 0-65535") }
        guard nodeTimeout > 0 else { throw ValidationError("--node-timeout must be positive") }
        guard headReconnectTimeout >= 0 else { throw ValidationError("--head-reconnect-timeout cannot be negative") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give --tls-cert and --tls-key together") }
        if !head, tls, tlsCa == nil, getenvString(ClusterTLS.certificateVariable) == nil,
           !FileManager.default.fileExists(atPath: ClusterFiles(root: tempDir).tlsCertificateFile) {
            throw ValidationError("a node with --tls needs the cluster's certificate: --tls-ca FILE or SWIFTRAY_TLS_CA_FILE")
        }
        _ = try nodeResources()
    }

    func run() async throws {
        let files = ClusterFiles(root: tempDir)
        if !block {
            // The token reaches the daemon through its environment (readable by this user only),
            // not its command line, which `ps` shows to everyone.
            let arguments = Daemons.removingOption("--token", from: Array(CommandLine.arguments.dropFirst()).filter { $0 != "--block" })
            let environment = token.map { ["SWIFTRAY_TOKEN": $0] } ?? [:]
            let started = try Daemons.detach(arguments: arguments, environment: environment, files: files, role: head ? "head" : "node")
            try printStarted(files: files, pid: started.pid, log: started.log)
            return
        }
        try files.create()
        if let tlsCa {
            // The node and the workers it starts trust this certificate.
            setenv(ClusterTLS.certificateVariable, URL(fileURLWithPath: tlsCa).standardizedFileURL.path, 1)
        } else if !head, tls, getenvString(ClusterTLS.certificateVariable) == nil {
            setenv(ClusterTLS.certificateVariable, files.tlsCertificateFile, 1)
        }
        if head { try await runHead(files) } else { try await runNode(files) }
    }

    private func runHead(_ files: ClusterFiles) async throws {
        let token = ClusterToken.resolveForHead(token)
        let nodeID = "node-\(getpid())"
        let capacity = objectStoreMemory ?? Int(physicalMemory * 0.3)
        // Workers' output goes to files under logs/workers and to their drivers, not to this log.
        let config = NodeConfig(
            nodeID: nodeID, resources: try nodeResources(), workerExecutable: "", prestartWorkers: 0, logToDriver: false,
            objectDirectory: .forNode(nodeID, capacity: capacity), logsFolder: "\(files.logsFolder)/workers")
        let session = "session_\(Int(Date().timeIntervalSince1970))_\(getpid())"
        let tlsConfig = try headTLS()
        let head = ClusterHead(
            config: config, files: files, token: token, session: session, nodeTimeout: .milliseconds(Int64(nodeTimeout * 1000)),
            tls: try tlsConfig?.security())
        let store = await openStateStore(files, head: head)
        let bound = try await head.start(host: host, port: port)
        let local = host == "0.0.0.0" ? "127.0.0.1" : host
        try files.recordHead(address: "\(local):\(bound)", token: token, tls: tlsConfig?.pem)
        let jobs = try await startJobs(files, head: head, address: "\(local):\(bound)", token: token, nodeID: nodeID, store: store)
        var dashboard: Dashboard?
        if includeDashboard {
            do {
                dashboard = try await Dashboard.start(
                    host: dashboardHost, port: dashboardPort, token: token, secure: tlsConfig.map(DashboardTLS.secure), logs: { await head.logs($0) },
                    keyValues: { try await head.keyValue($0) }, jobs: jobs
                ) { await head.state() }
                try files.writeText(dashboard!.url, to: files.dashboardFile, mode: 0o644)
            } catch {
                print("the dashboard could not start on \(dashboardHost):\(dashboardPort): \(error); continuing without it")
            }
        }
        let health = try await startHealth(files)
        let stopAutoscaler = try autoscalingConfig.map {
            HeadAutoscaling.start(try HeadAutoscaling.config($0), head: head, address: "\(local):\(bound)", token: token, files: files, tls: tlsConfig != nil)
        }
        try files.registerDaemon(pid: getpid(), role: "head")
        print("swift-ray head \(nodeID) listening on \(host):\(bound) (session \(session)); dashboard: \(dashboard?.url ?? "off")")
        await Daemons.waitForTermination()
        print("swift-ray head stopping")
        await stopAutoscaler?()
        await jobs.shutdown()
        await health?.stop()
        await dashboard?.stop()
        unlink(files.dashboardFile)
        await head.shutdown()
        await store?.closeAfterCleanStop()
        files.forgetHead()
        files.unregisterDaemon(pid: getpid())
    }

    /// The head's state store, with what a crashed head left in it restored; nil when turned off
    /// or when it cannot be opened (the head then runs without, and says so).
    private func openStateStore(_ files: ClusterFiles, head: ClusterHead) async -> HeadStateStore? {
        let path = stateStore ?? getenvString("SWIFTRAY_STATE_STORE") ?? "\(files.root)/head_state.sqlite"
        guard path != "none" else { return nil }
        do {
            let store = try await HeadStateStore.open(path)
            let entries = try await store.keyValues().map { (space: $0.space, key: $0.key, value: $0.value) }
            try await head.persistKeyValues(restoring: entries) { store.record($0, then: $1) }
            try await head.persistNodes(restoring: try await store.nodeIDs()) { store.record(node: $0, alive: $1) }
            try await head.persistContainedRefs(restoring: try await store.containedRefs()) { store.record(contained: $1, of: $0, then: $2) }
            try await head.persistDetachedGroups(restoring: try await store.detachedGroups()) { store.record(group: $0, removed: $1, then: $2) }
            try await head.persistDetachedActors(restoring: try await Self.storedActors(store, files: files)) { change, done in
                switch change {
                case .alive(let spec, let pool):
                    store.record(actor: HeadStateStore.StoredActor(
                        id: "\(spec.actorID)", spec: spec.storedBytes, executable: pool.executable, binaryHash: pool.binaryHash,
                        environment: pool.environment), then: done)
                case .placed(let id, let remote):
                    store.record(actorID: "\(id)", remote: remote, then: done)
                case .gone(let id):
                    store.forgetActor(id: "\(id)", then: done)
                }
            }
            return store
        } catch {
            RayLog.logger.error("the head's state store \(HeadStateStore.describe(path)) cannot be used: \(error); a restarted head will not recover its key-value store, detached actors or placement groups")
            return nil
        }
    }

    /// The detached actors a crashed head recorded, with their workers' pools (unreadable specs
    /// skipped); a job's binary is looked for in this head's cache (a head on another machine, or
    /// another folder, has it at another path, fetched back from a node if missing).
    private static func storedActors(_ store: HeadStateStore, files: ClusterFiles) async throws -> [(spec: ActorSpec, pool: WorkerPool, remote: Bool?)] {
        try await store.detachedActors().compactMap { stored in
            guard let spec = try? ActorSpec(storedBytes: stored.spec) else {
                print("skipping detached actor \(stored.id) in the head's state store: its record cannot be read")
                return nil
            }
            let executable = stored.binaryHash.isEmpty ? stored.executable : files.binary(stored.binaryHash)
            return (spec, WorkerPool(executable: executable, binaryHash: stored.binaryHash, environment: stored.environment), stored.remote)
        }
    }

    /// The health port, if asked for; its port number is written to the cluster files' `health_port`.
    private func startHealth(_ files: ClusterFiles) async throws -> HealthServer? {
        guard let healthPort else { return nil }
        let health = try await HealthServer.start(host: "0.0.0.0", port: healthPort) { true }
        try files.writeText("\(health.port)", to: "\(files.root)/health_port", mode: 0o644)
        return health
    }

    /// The head's submitted jobs, kept under the cluster folder's `jobs/` (so they outlive a head
    /// restart) and in the state store (so they outlive the head's machine, with PostgreSQL);
    /// their entrypoints connect to this head as drivers.
    private func startJobs(
        _ files: ClusterFiles, head: ClusterHead, address: String, token: String, nodeID: String, store: HeadStateStore?
    ) async throws -> JobManager {
        var environment = ["SWIFTRAY_ADDRESS": address, "SWIFTRAY_TOKEN": token, "SWIFTRAY_TEMP_DIR": files.root]
        environment["RAY_ADDRESS"] = address
        let stored = ((try? await store?.jobRecords()) ?? []).compactMap { try? JSONDecoder().decode(JobRecord.self, from: Data($0)) }
        let jobs = try JobManager(
            folder: "\(files.root)/jobs", environment: environment, nodeID: nodeID, placement: JobReservations(head: head), restoring: stored
        ) { id, record in
            head.recordSubmittedJob(id, record?.state)
            guard let store else { return }
            guard let record else { return store.record(job: id, nil) }  // deleted
            if let json = try? JSONEncoder().encode(record) { store.record(job: id, Array(json)) }
        }
        JobReservations.forward(head, to: jobs)
        Task { await jobs.recover() }
        return jobs
    }

    private func runNode(_ files: ClusterFiles) async throws {
        guard let address, let token = ClusterToken.resolve(token, files: files) else {
            throw ClusterError("no cluster token: pass --token, or set SWIFTRAY_TOKEN or SWIFTRAY_TOKEN_FILE")
        }
        let daemon = NodeDaemon(
            headAddress: address, token: token, resources: try nodeResources().merging(Self.kubeRayMarker) { $1 }, files: files, objectStoreMemory: objectStoreMemory,
            reconnectTimeout: .milliseconds(Int64(headReconnectTimeout * 1000)))
        let nodeID: String
        do {
            nodeID = try await daemon.join()
        } catch {
            await daemon.stop()  // completes what the daemon promised, so it can go
            throw error
        }
        let health = try await startHealth(files)
        try files.registerDaemon(pid: getpid(), role: "node")
        print("swift-ray node \(nodeID) joined the cluster at \(address)")
        await Daemons.waitForTermination(orUntil: daemon.closed)
        print("swift-ray node stopping")
        await health?.stop()
        await daemon.stop()
        files.unregisterDaemon(pid: getpid())
    }

    /// The head's TLS certificate and key: the given files, a new certificate, or none.
    private func headTLS() throws -> ClusterTLS? {
        guard tls || tlsCert != nil else { return nil }
        if let tlsCert, let tlsKey { return try ClusterTLS.load(certificateFile: tlsCert, keyFile: tlsKey) }
        return try ClusterTLS.generate()
    }

    private func printStarted(files: ClusterFiles, pid: Int32, log: String) throws {
        // Commands on this machine need the same folder to find this cluster.
        let folder = tempDir.map { " --temp-dir '\($0)'" } ?? ""
        let environment = tempDir.map { ", with SWIFTRAY_TEMP_DIR='\($0)'" } ?? ""
        if head {
            let port = ClusterFiles.readText(files.headAddressFile)?.split(separator: ":").last ?? "?"
            print("""
                Started the swift-ray head (pid \(pid)); log: \(log)
                Token: \(files.tokenFile) (mode 0600)

                To add a node, on that machine (with the token in SWIFTRAY_TOKEN or SWIFTRAY_TOKEN_FILE):
                    swiftray start --address='\(Daemons.primaryAddress):\(port)'\(tlsHint(files))

                Dashboard: \(ClusterFiles.readText(files.dashboardFile) ?? "off")
                To connect a program:  try await Ray.start(address: "auto")   (on this machine\(environment))
                                       try await Ray.start(address: "\(Daemons.primaryAddress):\(port)")
                Status: swiftray status\(folder)      Stop: swiftray stop\(folder)
                """)
        } else {
            print("Started a swift-ray node (pid \(pid)), joined \(address ?? "?"); log: \(log)\nStop: swiftray stop\(folder)")
        }
    }

    /// How nodes and drivers of a TLS head find its certificate.
    private func tlsHint(_ files: ClusterFiles) -> String {
        guard tls || tlsCert != nil else { return "" }
        return "  --tls-ca FILE\nTLS: on: FILE is a copy of \(files.tlsCertificateFile); drivers elsewhere set SWIFTRAY_TLS_CA_FILE=FILE"
    }

    private func nodeResources() throws -> ResourceSet {
        var total: ResourceSet = [:]
        if let resources {
            guard let data = resources.data(using: .utf8),
                  let parsed = try? JSONDecoder().decode([String: Double].self, from: data) else {
                throw ValidationError("--resources must be a JSON object of numbers, e.g. '{\"accelerator\": 1}'")
            }
            total = parsed
        }
        total["CPU"] = Double(numCPUs ?? ProcessInfo.processInfo.activeProcessorCount)
        total["GPU"] = Double(numGPUs)
        total["memory"] = (memory ?? physicalMemory * 0.7).rounded(.down)
        guard total.values.allSatisfy({ $0 >= 0 }) else { throw ValidationError("resource amounts cannot be negative") }
        return total
    }

    private var physicalMemory: Double { Double(ProcessInfo.processInfo.physicalMemory) }

    /// In a KubeRay worker pod (`RAY_NODE_TYPE_NAME`: its group, `RAY_CLOUD_INSTANCE_ID`: the pod),
    /// the resource by which the autoscaler knows which pod this node is.
    static var kubeRayMarker: ResourceSet {
        let environment = ProcessInfo.processInfo.environment
        guard let group = environment["RAY_NODE_TYPE_NAME"], let pod = environment["RAY_CLOUD_INSTANCE_ID"], !group.isEmpty, !pod.isEmpty else { return [:] }
        return [Autoscaler.marker(type: group, id: pod): 1]
    }
}

/// `swiftray stop`: stops this machine's daemons.
struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop the swift-ray daemons running on this machine.")

    @Option(help: "Folder of this machine's cluster files (default: SWIFTRAY_TEMP_DIR or /tmp/swiftray).")
    var tempDir: String?

    func run() throws {
        let stopped = Daemons.stopAll(files: ClusterFiles(root: tempDir))
        print(stopped == 0 ? "No swift-ray daemons are running here." : "Stopped \(stopped) swift-ray daemon(s).")
    }
}

/// `swiftray status`: nodes, resources and demand of a cluster.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the cluster's nodes, resources and pending work.")

    @OptionGroup var cluster: ClusterOptions

    func run() async throws {
        guard case .status(let status) = try await cluster.ask(.statusRequest) else { throw ClusterError("no status from the head") }
        print(StatusReport(status).text)
    }
}

/// `swiftray health-check`: exits 0 when the head answers (Ray's `ray health-check`, which
/// KubeRay's worker pods run until the head is up).
struct HealthCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "health-check", abstract: "Exit 0 if the cluster's head answers, 1 if not.")

    @OptionGroup var cluster: ClusterOptions

    func run() async throws {
        do {
            guard case .status = try await cluster.ask(.statusRequest) else { throw ClusterError("no status from the head") }
        } catch {
            FileHandle.standardError.write(Data("the head is not healthy: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `ray status`-like text.
struct StatusReport {
    let status: ClusterStatus
    init(_ status: ClusterStatus) { self.status = status }

    var text: String {
        var lines = ["======== Cluster status: \(status.session) ========", "Node status", String(repeating: "-", count: 56), "Active:"]
        let live = status.nodes.filter(\.alive)
        lines += live.map {
            " \($0.id) (\($0.address)), \($0.workers) workers, object store: \($0.storedObjects) objects, \(megabytes($0.storedBytes)) MiB"
        }
        let dead = status.nodes.filter { !$0.alive }
        lines += ["Dead:"] + (dead.isEmpty ? [" (none)"] : dead.map { " \($0.id) (\($0.address))" })
        if !status.autoscaler.isEmpty { lines += ["", "Autoscaler", String(repeating: "-", count: 56)] + status.autoscaler.map { " " + $0 } }
        lines += ["", "Resources", String(repeating: "-", count: 56), "Usage:"]
        let names = Set(live.flatMap { $0.total.keys }).sorted()
        for name in names {
            let total = live.reduce(0) { $0 + ($1.total[name] ?? 0) }
            let used = live.reduce(0) { $0 + ($1.total[name] ?? 0) - ($1.available[name] ?? 0) }
            if name == "memory" || name.hasSuffix("_memory") {
                lines.append(" \(gibibytes(used))/\(gibibytes(total)) GiB \(name)")
            } else {
                lines.append(" \(format(used))/\(format(total)) \(name)")
            }
        }
        lines += ["", "Demands:", " \(status.pendingTasks) pending tasks, \(status.pendingActors) pending actors"]
        lines += status.pendingDemands.sorted { $0.key < $1.key }.map { " \($0.key): \($0.value) pending tasks/actors" }
        lines.append("Infeasible (refused: no node can ever fit them):")
        lines += status.infeasibleDemands.isEmpty ? [" (none)"] : status.infeasibleDemands.sorted { $0.key < $1.key }.map { " \($0.key): \($0.value) requests" }
        lines.append("Drivers: \(status.drivers)")
        return lines.joined(separator: "\n")
    }

    private func megabytes(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }

    private func gibibytes(_ bytes: Double) -> String { String(format: "%.2f", bytes / 1_073_741_824) }

    private func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(format: "%.1f", value) : String(value)
    }
}
