import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RayTransport
import RayWire
import Yams

/// `swiftray serve deploy|status|shutdown`: Ray's `serve` CLI over the dashboard's REST API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Deploy Serve applications from a config file, show them, or remove them (through the dashboard's REST API).",
        discussion: """
            A Serve host process builds the applications: it registers builders with Serve.register(...) and runs
            Serve.serveConfigs() (swiftray-examples serve-host is one). A config's import_path names a builder.
            """,
        subcommands: [ServeDeployCommand.self, ServeStatusCommand.self, ServeShutdownCommand.self])
}

/// Where the dashboard is and how to talk to it.
struct DashboardOptions: ParsableArguments {
    @Option(help: "The dashboard, http://HOST:PORT (default: SWIFTRAY_DASHBOARD_ADDRESS, else the head started on this machine, else http://127.0.0.1:8265).")
    var address: String?

    @Option(help: "The cluster token, needed when the dashboard is bound off loopback (default: SWIFTRAY_TOKEN or this machine's token file).")
    var token: String?

    @Option(help: "Folder of this machine's cluster files.")
    var tempDir: String?

    var baseURL: String {
        let files = ClusterFiles(root: tempDir)
        let found = address ?? ProcessInfo.processInfo.environment["SWIFTRAY_DASHBOARD_ADDRESS"] ?? ClusterFiles.readText(files.dashboardFile)
        let url = (found ?? "http://127.0.0.1:8265").trimmingCharacters(in: .whitespacesAndNewlines)
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// The token to send, if any.
    var resolvedToken: String? { ClusterToken.resolve(token, files: ClusterFiles(root: tempDir)) }

    /// Sends `method` to `path` (default: `/api/serve/applications/`) and returns the answer's body.
    /// - Throws: `ClusterError` with the dashboard's message for an error status, or naming the
    ///   address when it cannot be reached.
    func send(_ method: String, path: String = "/api/serve/applications/", body: Data? = nil, contentType: String = "application/json") async throws -> Data {
        let base = baseURL
        guard let url = URL(string: base + path) else { throw ClusterError("not a URL: \(base)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 300
        if body != nil { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let token = resolvedToken { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw ClusterError("no dashboard answers at \(base) (\(error.localizedDescription)); start a cluster with `swiftray start --head`, or pass --address")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let message = (try? JSONDecoder().decode([String: [String: String]].self, from: data))?["error"]?["message"]
            throw ClusterError("the dashboard answered \(status): \(message ?? String(decoding: data, as: UTF8.self))")
        }
        return data
    }
}

/// `swiftray serve deploy FILE`: Ray's `serve deploy config.yaml`.
struct ServeDeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy", abstract: "Send a Serve config (YAML or JSON, Ray's schema) to the cluster; its Serve hosts deploy it.")

    @Argument(help: "The config file.")
    var file: String

    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        let config = try Self.load(file)
        _ = try await dashboard.send("PUT", body: try JSONEncoder().encode(config))
        print("Sent the Serve config with \(config.applications.count) application(s) (\(config.applications.map(\.name).joined(separator: ", "))) to \(dashboard.baseURL).")
        print("See them with `swiftray serve status`.")
    }

    /// The config in `path`, checked.
    /// - Throws: `ValidationError` naming what is wrong.
    static func load(_ path: String) throws -> ServeDeployConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ClusterError("cannot read \(path)") }
        let config: ServeDeployConfig
        do {
            config = try YAMLDecoder().decode(ServeDeployConfig.self, from: text)  // JSON is YAML too
        } catch {
            throw ClusterError("\(path) is not a Serve config: \(error)")
        }
        if let problem = config.problem { throw ClusterError("\(path): \(problem)") }
        return config
    }
}

/// `swiftray serve status`: the applications, as YAML (Ray's `serve status`).
struct ServeStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the Serve applications and their deployments.")

    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        let data = try await dashboard.send("GET")
        guard let details = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ClusterError("the dashboard's answer is not JSON") }
        var applications: [String: Any] = [:]
        for (name, value) in details["applications"] as? [String: Any] ?? [:] {
            guard let app = value as? [String: Any] else { continue }
            var deployments: [String: Any] = [:]
            for (deploymentName, entry) in app["deployments"] as? [String: Any] ?? [:] {
                let deployment = entry as? [String: Any] ?? [:]
                deployments[deploymentName] = [
                    "status": deployment["status"] ?? "", "replica_states": deployment["replica_states"] ?? [:], "message": deployment["message"] ?? "",
                ]
            }
            applications[name] = [
                "status": app["status"] ?? "", "message": app["message"] ?? "", "route_prefix": app["route_prefix"] ?? "",
                "last_deployed_time_s": app["last_deployed_time_s"] ?? 0, "deployments": deployments,
            ]
        }
        let proxies = (details["proxies"] as? [String: Any] ?? [:]).mapValues { ($0 as? [String: Any])?["status"] ?? "" }
        print(try Yams.dump(object: Self.plain(["proxies": proxies, "applications": applications]), sortKeys: true), terminator: "")
    }

    /// JSON numbers as YAML writes them best: whole ones as integers (not `2e+0`).
    static func plain(_ value: Any) -> Any {
        switch value {
        case let object as [String: Any]: return object.mapValues(plain)
        case let array as [Any]: return array.map(plain)
        case let number as NSNumber where String(cString: number.objCType) != "c":  // "c": a Bool
            let double = number.doubleValue
            return double == double.rounded() && abs(double) < 1e15 ? Int(double) : double
        default: return value
        }
    }
}

/// `swiftray serve shutdown`: removes the config; the hosts delete its applications.
struct ServeShutdownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shutdown", abstract: "Delete every application deployed from a config.")

    @OptionGroup var dashboard: DashboardOptions

    func run() async throws {
        _ = try await dashboard.send("DELETE")
        print("Deleted the Serve config; the Serve hosts remove its applications.")
    }
}
