import NIOCore
import RayNode
import RayPlatform
import RayTransport
import RayWire

/// One connection to the head. Nothing is processed before a `hello` carrying the cluster token: a
/// connection that sends anything else, a wrong token or garbage is logged and closed, and the head
/// keeps serving. After the hello the connection is a driver, a remote worker, a node daemon or a
/// CLI client. Confined to the head's event loop.
final class HeadPeerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WireMessage

    private enum State {
        case awaitingHello
        /// A driver that has not registered its job yet (or is uploading its binary).
        case driverHandshake(Hello, upload: BinaryUpload?)
        case peer(WorkerHandle)
        case node(NodeRecord)
        case client
        case closed
    }

    private let head: ClusterHead
    /// Hello-sized until the token is presented.
    private let limit: FrameSizeLimit
    private var state = State.awaitingHello {
        didSet { if case .awaitingHello = state {} else { uncount() } }
    }
    private var remote = "?"
    /// Whether this connection counts among the head's unauthenticated ones.
    private var counted = false

    init(head: ClusterHead, limit: FrameSizeLimit) {
        self.head = head
        self.limit = limit
    }

    private var manager: NodeManager { head.manager }

    func channelActive(context: ChannelHandlerContext) {
        remote = context.channel.remoteAddress?.displayText ?? "?"
        counted = head.unauthenticated.admit()
        if !counted {
            reject(context.channel, "\(head.unauthenticated.limit) connections are already waiting to authenticate")
            return context.fireChannelActive()
        }
        // A connection that never says hello is dropped.
        let channel = context.channel
        context.eventLoop.scheduleTask(in: TimeAmount(ConnectionLimit.idleTimeout)) { [self] in
            if case .awaitingHello = state { reject(channel, "no hello within \(ConnectionLimit.idleTimeout)") }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        switch state {
        case .awaitingHello:
            guard case .control(.hello(let hello)) = message else { return reject(context.channel, "first message was not a hello") }
            guard ClusterToken.matches(hello.token, head.token) else { return reject(context.channel, "wrong cluster token") }
            limit.authenticated()
            accept(hello, context.channel)
        case .driverHandshake(let hello, let upload):
            driverHandshake(message, hello: hello, upload: upload, channel: context.channel)
        case .peer(let worker):
            manager.handle(message, from: worker)
        case .node(let node):
            nodeMessage(message, node: node, channel: context.channel)
        case .client:
            if case .control(.statusRequest) = message {
                context.channel.writeAndFlush(WireMessage.control(.status(head.status())), promise: nil)
            } else if case .control(.logsRequest(let requestID, let query)) = message {
                let result = manager.logs(query)
                context.channel.writeAndFlush(WireMessage.control(.logs(requestID: requestID, text: result.text, next: result.next, error: result.error)), promise: nil)
            } else if case .control(.stateRequest(let requestID)) = message {
                context.channel.writeAndFlush(WireMessage.control(.state(requestID: requestID, manager.stateSnapshot())), promise: nil)
            } else if case .control(.autoscalingViewRequest(let requestID)) = message {
                let view = AutoscalingView(status: head.status(), demands: manager.unmetDemands)
                context.channel.writeAndFlush(WireMessage.control(.autoscalingView(requestID: requestID, view)), promise: nil)
            } else if case .control(.autoscalerUpdate(let update)) = message {
                head.apply(update)
            }
        case .closed:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .peer(let worker) where worker.isDriver: head.driverLeft(worker)
        case .peer(let worker): manager.channelClosed(worker)
        case .node(let node): head.nodeDied(node, reason: "its daemon's connection closed")
        case .driverHandshake(_, let upload?): upload.abandon()
        default: break
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .awaitingHello = state {
            reject(context.channel, "\(error)")
        } else {
            RayLog.untrusted.warning("connection from \(remote): \(error); closing it")
            context.close(promise: nil)
        }
    }

    private func uncount() {
        guard counted else { return }
        counted = false
        head.unauthenticated.leave()
    }

    private func reject(_ channel: any Channel, _ reason: String) {
        RayLog.untrusted.warning("rejected connection from \(remote): \(reason)")
        state = .closed
        channel.close(promise: nil)
    }

    private func accept(_ hello: Hello, _ channel: any Channel) {
        switch hello.role {
        case .driver, .resumingDriver:
            state = .driverHandshake(hello, upload: nil)
            channel.writeAndFlush(WireMessage.control(.welcome(Welcome(nodeID: manager.config.nodeID, session: head.session))), promise: nil)
        case .worker(let id):
            guard let worker = manager.workers[id], !worker.node.isLocal, worker.channel == nil, !worker.dead else {
                return reject(channel, "unknown worker \(id)")
            }
            worker.pid = hello.pid
            worker.channel = channel
            state = .peer(worker)
        case .reattachingWorker(let id, let actorID, let nodeID, let specBytes):
            guard let node = rejoinedNode(nodeID) else {
                return reject(channel, "worker \(id) re-attaching actor \(actorID) before its node \(nodeID) rejoined")
            }
            let spec = specBytes.flatMap { try? ActorSpec(storedBytes: $0) }
            if specBytes != nil, spec == nil { return refuse(channel, id, "worker \(id) re-attaches actor \(actorID) with a malformed spec") }
            guard let worker = manager.reattachActor(
                actorID, spec: spec, workerID: id, pid: hello.pid, on: node, channel: channel, welcome: welcome(node)) else {
                return refuse(channel, id, "no restored actor \(actorID) waits for worker \(id) of node \(nodeID)")
            }
            state = .peer(worker)
        case .reattachingTaskWorker(let id, let nodeID, let taskIDs):
            guard let node = rejoinedNode(nodeID) else {
                return reject(channel, "worker \(id) re-attaching its tasks before its node \(nodeID) rejoined")
            }
            guard let worker = manager.reattachTaskWorker(id, pid: hello.pid, tasks: taskIDs, on: node, channel: channel, welcome: welcome(node)) else {
                return refuse(channel, id, "worker \(id) of node \(nodeID) re-attaches tasks that run again elsewhere")
            }
            state = .peer(worker)
        case .node(let info):
            let node = head.nodeJoined(info, address: remote, channel: channel)
            state = .node(node)
            let welcome = Welcome(
                nodeID: node.id, session: head.session, objectPort: manager.objectServerPort,
                tlsCertificate: head.tls?.certificatePEM, tlsKey: head.tls?.keyPEM)
            channel.writeAndFlush(WireMessage.control(.welcome(welcome)), promise: nil)
            for hash in manager.missingBinaries { head.askNextNode(for: hash) }  // after the welcome, which comes first
        case .objects:
            reject(channel, "object pulls go to the object server's port")
        case .client:
            state = .client
            channel.writeAndFlush(WireMessage.control(.welcome(Welcome(nodeID: manager.config.nodeID, session: head.session))), promise: nil)
        }
    }

    /// The node a worker that outlived its head re-attaches on, once it rejoined and reported its
    /// store; nil: the worker is closed without a word, and tries again.
    private func rejoinedNode(_ id: String) -> NodeRecord? {
        manager.nodes.first { $0.id == id && $0.alive && !$0.isLocal && !$0.awaitingStoredObjects }
    }

    private func welcome(_ node: NodeRecord) -> WireMessage {
        .control(.welcome(Welcome(nodeID: node.id, session: head.session)))
    }

    /// Tells a re-attaching worker to exit (`killWorker`), and closes its connection.
    private func refuse(_ channel: any Channel, _ workerID: Int, _ reason: String) {
        channel.writeAndFlush(WireMessage.control(.killWorker(workerID: workerID)), promise: nil)
        reject(channel, reason)
    }

    private func driverHandshake(_ message: WireMessage, hello: Hello, upload: BinaryUpload?, channel: any Channel) {
        switch message {
        case .control(.registerJob(let job)):
            let path = head.files.binary(job.binaryHash)
            if access(path, X_OK) == 0 { return jobReady(hello, job.binaryHash, channel) }
            do {
                state = .driverHandshake(hello, upload: try BinaryUpload(hash: job.binaryHash, size: job.binarySize, path: path))
                channel.writeAndFlush(WireMessage.control(.needBinary(hash: job.binaryHash)), promise: nil)
            } catch {
                reject(channel, "\(error)")
            }
        case .control(.binaryChunk(let hash, let bytes, let last)):
            guard let upload, upload.hash == hash else { return reject(channel, "unexpected binary chunk") }
            do {
                try upload.append(bytes)
                if last {
                    try upload.finish()
                    head.logger.info("received job binary \(hash) (\(upload.size) bytes)")
                    jobReady(hello, hash, channel)
                }
            } catch {
                upload.abandon()
                reject(channel, "binary upload failed: \(error)")
            }
        default:
            reject(channel, "a driver must register its job first")
        }
    }

    /// The job's binary is here: the driver may go on. A resuming driver waits for the head's
    /// recovery window (its objects' nodes rejoin meanwhile); it sends `resumeSession` first.
    private func jobReady(_ hello: Hello, _ hash: String, _ channel: any Channel) {
        if manager.missingBinaries.contains(hash) { manager.binaryArrived(hash) }  // restored actors waited for it
        let pool = WorkerPool(executable: head.files.binary(hash), binaryHash: hash)
        let ready = WireMessage.control(.jobReady(jobID: "\(hash)"))
        guard hello.role == .resumingDriver else {
            state = .peer(head.driverJoined(pid: hello.pid, pool: pool, channel: channel))
            return channel.writeAndFlush(ready, promise: nil)
        }
        state = .driverHandshake(hello, upload: nil)  // anything it sends before the answer is refused
        manager.afterRecoveryWindow { [self] in
            guard channel.isActive, case .driverHandshake = state else { return }
            state = .peer(head.driverJoined(pid: hello.pid, pool: pool, channel: channel))
            channel.writeAndFlush(ready, promise: nil)
        }
    }

    private func nodeMessage(_ message: WireMessage, node: NodeRecord, channel: any Channel) {
        let now = NIODeadline.now()
        node.lastHeard = now
        if node.heard(at: now) { manager.requestSchedule() }
        guard case .control(let control) = message else { return }
        switch control {
        case .heartbeat:
            break
        case .workerExited(let id, let code):
            head.remoteWorkerExited(id, code: code, on: node)
        case .output(let id, let text, let isError):
            guard let worker = manager.workers[id] else { return manager.holdEarlyOutput(text, isError: isError, from: id) }
            manager.emitOutput(text, isError: isError, from: worker)
        case .objectServer(let port):
            head.nodeServesObjects(node, port: port, channel: channel)
        case .binaryChunk(let hash, let bytes, let last):
            head.binaryChunk(hash, bytes, last: last, from: node)
        case .storedObjects(let stored):
            node.awaitingStoredObjects = false
            let stale = manager.adoptStoredObjects(stored, on: node)
            if !stale.isEmpty { channel.writeAndFlush(WireMessage.control(.freeObjects(stale)), promise: nil) }
            manager.nodeReported(node.id)
        case .objectPulled(let id, let error, let sourceLost):
            manager.copyPulled(id, to: node, error.map { sourceLost ? .sourceLost($0) : .failed($0) } ?? .copied)
        case .fetchBinary(let hash):
            BinaryUpload.send(hash: hash, from: head.files.binary(hash), over: channel, logger: head.logger)
        case .memoryPressure(let used, let total, let threshold):
            manager.memoryUsed(MemoryUsage(used: used, total: total), on: node, threshold: threshold)
        case .entrypointOutput(let jobID, let bytes):
            head.entrypointEvent(.output(jobID: jobID, bytes: bytes))
        case .entrypointExited(let jobID, let code, let error):
            head.entrypointEvent(.exited(jobID: jobID, code: code, error: error))
        default:
            head.logger.warning("node \(node.id) sent an unexpected message")
        }
    }
}
