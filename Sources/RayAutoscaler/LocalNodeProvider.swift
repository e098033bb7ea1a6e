import CRayShims
import Foundation
import Logging
import RayPlatform

/// Nodes as `swiftray start --address HEAD --block` daemons on this machine (Ray's fake multi-node
/// provider): each in its own session with its own cluster folder under `folder`, its output in
/// `folder/<marker>.log`, stopped with SIGTERM and reaped.
package actor LocalNodeProvider: NodeProvider {
    private let executable: String
    private let headAddress: String
    private let token: String
    private let folder: String
    private let tlsCertificate: String?
    private var started: [String: (type: String, pid: pid_t)] = [:]
    private var count = 0
    private let logger = Logger(label: "swiftray.autoscaler")

    /// `tlsCertificate`: the certificate (PEM file) of a TLS head, which its nodes must trust.
    package init(executable: String, headAddress: String, token: String, folder: String, tlsCertificate: String? = nil) {
        self.executable = executable
        self.headAddress = headAddress
        self.token = token
        self.folder = folder
        self.tlsCertificate = tlsCertificate
    }

    package func nodes() -> [ProviderNode] {
        started.sorted { $0.key < $1.key }.map { ProviderNode(type: $0.value.type, marker: $0.key) }
    }

    package func launch(_ type: AutoscalerConfig.NodeType, count: Int) throws {
        for _ in 0..<count {
            self.count += 1
            try launch(type, marker: Autoscaler.marker(type: type.name, id: "\(self.count)"))
        }
    }

    private func launch(_ type: AutoscalerConfig.NodeType, marker: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var resources = type.resources.filter { $0.key != "CPU" && $0.key != "GPU" && $0.key != "memory" }
        resources[marker] = 1
        var arguments = [executable, "start", "--address", headAddress, "--block", "--temp-dir", "\(folder)/\(marker)"]
        arguments += ["--num-cpus", "\(Int(type.resources["CPU"] ?? 0))", "--num-gpus", "\(Int(type.resources["GPU"] ?? 0))"]
        if let memory = type.resources["memory"] { arguments += ["--memory", "\(memory)"] }
        arguments += ["--resources", String(decoding: try JSONEncoder().encode(resources), as: UTF8.self)]
        if let tlsCertificate { arguments += ["--tls-ca", tlsCertificate] }
        let log = "\(folder)/\(marker).log"
        let fd = open(log, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ProviderError(message: "cannot open \(log): \(errnoText())") }
        defer { close(fd) }
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTRAY_TOKEN"] = token
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(arguments) { argv in withCStrings(envp) { envp in swiftray_spawn_detached(executable, argv, envp, fd, &pid) } }
        guard rc == 0 else { throw ProviderError(message: "cannot start \(executable): \(errnoText(rc))") }
        started[marker] = (type.name, pid)
        let child = pid
        Thread.detachNewThread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0, errno == EINTR {}
            Task { await self.exited(marker, pid: child) }
        }
    }

    /// A node that ended (stopped or crashed) is no longer the provider's.
    private func exited(_ marker: String, pid: pid_t) {
        if started[marker]?.pid == pid { started[marker] = nil }
    }

    package func terminate(markers: [String]) {
        for marker in markers {
            guard let node = started.removeValue(forKey: marker) else { continue }
            kill(node.pid, SIGTERM)
        }
    }

    /// Stops every node it started (the head is going away).
    package func terminateAll() { terminate(markers: Array(started.keys)) }
}

/// A node could not be started.
package struct ProviderError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}
