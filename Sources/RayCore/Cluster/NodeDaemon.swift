import CRayShims
import Dispatch
import NIOCore
import NIOPosix
import RayWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A worker node (`swiftray start --address HOST:PORT`): joins the head with this machine's
/// resources, starts worker processes when the head asks (fetching and caching the job's binary
/// first), forwards their output, reports their exits and heartbeats. Its workers die with it.
public final class NodeDaemon: @unchecked Sendable {
    let files: ClusterFiles
    let resources: ResourceSet
    let token: String
    let headAddress: String
    let heartbeatInterval: TimeAmount
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let logger = RayLog.logger
    private var connection: HeadConnection?
    // Loop-confined:
    private var nodeID = ""
    private var workers: [Int: Int32] = [:]
    private var waitingForBinary: [String: [StartWorker]] = [:]
    private var downloads: [String: BinaryUpload] = [:]

    public init(headAddress: String, token: String, resources: ResourceSet, files: ClusterFiles, heartbeatInterval: Duration = .milliseconds(500)) {
        self.headAddress = headAddress
        self.token = token
        self.resources = resources
        self.files = files
        self.heartbeatInterval = TimeAmount(heartbeatInterval)
    }

    /// Joins the head; returns this node's id. Serving continues until `closed` completes.
    public func join() async throws -> String {
        let address = try ClusterAddress.resolve(headAddress, files: files)
        let hello = Hello(token: token, role: .node(NodeInfo(resources: resources, host: HeadConnection.hostName)), pid: getpid(), host: HeadConnection.hostName)
        let connection = try await HeadConnection.connect(host: address.host, port: address.port, hello: hello, group: group)
        guard case .welcome(let welcome) = try await connection.nextControl() else { throw ClusterError("the head did not welcome this node") }
        self.connection = connection
        let loop = connection.channel.eventLoop
        try await loop.submit { self.nodeID = welcome.nodeID }.get()
        connection.route({ self.handle($0) }, onClose: { self.headGone() })
        loop.scheduleRepeatedTask(initialDelay: heartbeatInterval, delay: heartbeatInterval) { _ in
            connection.send(.control(.heartbeat))
        }
        return welcome.nodeID
    }

    /// Completes when the connection to the head ends.
    public var closed: EventLoopFuture<Void> {
        connection?.channel.closeFuture ?? group.next().makeSucceededVoidFuture()
    }

    /// Kills every worker of this node and leaves the cluster.
    public func stop() async {
        try? await group.next().submit { self.killAll() }.get()
        connection?.close()
        try? await group.shutdownGracefully()
    }

    private func handle(_ message: WireMessage) {
        guard case .control(let control) = message else { return }
        switch control {
        case .startWorker(let request):
            start(request)
        case .killWorker(let id):
            if let pid = workers[id] { kill(pid, SIGKILL) }
        case .binaryChunk(let hash, let bytes, let last):
            received(hash, bytes, last: last)
        default:
            logger.warning("node daemon: unexpected message from the head")
        }
    }

    private func start(_ request: StartWorker) {
        let path = files.binary(request.binaryHash)
        if access(path, X_OK) == 0 { return spawn(request, executable: path) }
        let first = waitingForBinary[request.binaryHash] == nil
        waitingForBinary[request.binaryHash, default: []].append(request)
        if first {
            logger.info("fetching job binary \(request.binaryHash) from the head")
            connection?.send(.control(.fetchBinary(hash: request.binaryHash)))
        }
    }

    private func received(_ hash: String, _ bytes: [UInt8], last: Bool) {
        do {
            if downloads[hash] == nil {
                let size = Int(hash.split(separator: "-").last ?? "") ?? 0
                downloads[hash] = try BinaryUpload(hash: hash, size: size, path: files.binary(hash))
            }
            try downloads[hash]!.append(bytes)
            guard last else { return }
            try downloads.removeValue(forKey: hash)!.finish()
            for request in waitingForBinary.removeValue(forKey: hash) ?? [] { spawn(request, executable: files.binary(hash)) }
        } catch {
            logger.error("cannot fetch job binary \(hash): \(error)")
            downloads.removeValue(forKey: hash)?.abandon()
            for request in waitingForBinary.removeValue(forKey: hash) ?? [] { exited(request.workerID, code: 127) }
        }
    }

    private func spawn(_ request: StartWorker, executable: String) {
        let launched: WorkerLauncher.Launched
        do {
            launched = try WorkerLauncher.launchConnecting(
                executable: executable, workerID: request.workerID, nodeID: nodeID, head: headAddress, token: token)
        } catch {
            logger.error("\(error)")
            return exited(request.workerID, code: 127)
        }
        let id = request.workerID
        workers[id] = launched.pid
        guard let loop = connection?.channel.eventLoop else { return }
        for (fd, isError) in [(launched.stdoutFD, false), (launched.stderrFD, true)] {
            LineForwarder.attach(fd: fd, on: loop) { [self] line in
                connection?.send(.control(.output(workerID: id, text: line, isError: isError)))
            }
        }
        DispatchQueue.global().async { [self] in
            var status: Int32 = 0
            while waitpid(launched.pid, &status, 0) < 0 && errno == EINTR {}
            let code = swiftray_wait_status_code(status)
            loop.execute { self.exited(id, code: code) }
        }
    }

    private func exited(_ id: Int, code: Int32) {
        workers[id] = nil
        connection?.send(.control(.workerExited(workerID: id, code: code)))
    }

    private func headGone() {
        logger.warning("lost the connection to the head; stopping this node's workers")
        killAll()
    }

    private func killAll() {
        for pid in workers.values { kill(pid, SIGKILL) }
    }
}
