import ArgumentParser
import Foundation
import NIOPosix
import RayDashboard
import RayTLS
import RayTransport
import RayWire
import SwiftRay

/// Where the state commands find the cluster.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The head, HOST:PORT (default: SWIFTRAY_ADDRESS, else the head started on this machine).")
    var address: String?

    @Option(help: "The cluster token (default: SWIFTRAY_TOKEN, SWIFTRAY_TOKEN_FILE or this machine's token file).")
    var token: String?

    @Option(help: "Folder of this machine's cluster files.")
    var tempDir: String?

    /// Connects as a client, asks for `request`, and returns the reply's control message.
    func ask(_ request: ControlMessage) async throws -> ControlMessage {
        let files = ClusterFiles(root: tempDir)
        let target = try ClusterAddress.resolve(address, files: files)
        guard let token = ClusterToken.resolve(token, files: files) else { throw ClusterError("no cluster token") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let hello = Hello(token: token, role: .client, pid: getpid(), host: HeadConnection.hostName)
            let tls = try TLSSupport.client(files: files)
            let connection = try await HeadConnection.connect(host: target.host, port: target.port, hello: hello, group: group, tls: tls)
            guard case .welcome = try await connection.nextControl() else { throw ClusterError("the head refused the connection") }
            connection.send(.control(request))
            let reply = try await connection.nextControl()
            connection.close()
            try? await group.shutdownGracefully()
            return reply
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    func state() async throws -> ClusterState {
        guard case .state(_, let state) = try await ask(.stateRequest(requestID: 1)) else { throw ClusterError("no state from the head") }
        return state
    }
}

/// `swiftray list KIND`: Ray's `ray list`.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the cluster's nodes, workers, tasks, actors, objects, jobs or placement groups.")

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case nodes, workers, tasks, actors, objects, jobs
        case placementGroups = "placement-groups"
    }

    @Argument(help: "What to list: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: Kind

    @Option(name: .customLong("filter"), help: "Keep rows whose FIELD equals VALUE (FIELD=VALUE; repeatable), e.g. state=RUNNING.")
    var filters: [String] = []

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var cluster: ClusterOptions

    func run() async throws {
        let state = try await cluster.state()
        switch kind {
        case .nodes: try show(state.nodes)
        case .workers: try show(state.workers)
        case .tasks: try show(state.tasks)
        case .actors: try show(state.actors)
        case .objects: try show(state.objects)
        case .jobs: try show(state.jobs)
        case .placementGroups: try show(state.placementGroups)
        }
    }

    /// The rows that pass the filters, as a table or as JSON with each field's own type.
    private func show<T: Encodable>(_ values: [T]) throws {
        let rows = Rows.of(values)
        let kept = try Rows.matching(rows, filters)
        if json {
            print(try Rows.json(kept.map { values[$0] }))
        } else {
            print(Rows.table(kept.map { rows[$0] }, columns: Rows.columns[kind.rawValue] ?? []))
        }
    }
}

/// `swiftray summary tasks`: counts by function and state.
struct SummaryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Summarize tasks: counts by function and state.")

    @Argument(help: "What to summarize (tasks).")
    var kind: String = "tasks"

    @OptionGroup var cluster: ClusterOptions

    func validate() throws {
        guard kind == "tasks" else { throw ValidationError("only `summary tasks` exists") }
    }

    func run() async throws {
        let summary = TaskSummary.of(try await cluster.state().tasks)
        let states = ["PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "RUNNING", "FINISHED", "FAILED"]
        let rows = summary.map { item in
            ["name": item.name, "type": item.type].merging(Dictionary(uniqueKeysWithValues: states.map { ($0, String(item.counts[$0] ?? 0)) })) { $1 }
        }
        print(Rows.table(rows, columns: ["name", "type"] + states))
    }
}

/// `swiftray memory`: the object table: sizes, where objects live, who holds them.
struct MemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "memory", abstract: "Show the objects in the cluster: size, location, references.")

    @OptionGroup var cluster: ClusterOptions

    func run() async throws {
        let objects = try await cluster.state().objects.sorted { $0.size > $1.size }
        let total = objects.reduce(0) { $0 + $1.size }
        let rows = objects.map {
            ["object_id": $0.objectID, "size": String($0.size), "location": $0.location, "holders": String($0.holders),
             "pins": String($0.pins), "holder_pids": $0.holderPIDs.map(String.init).joined(separator: ","),
             "nodes": $0.nodes.joined(separator: ",")]
        }
        print(Rows.table(rows, columns: ["object_id", "size", "location", "nodes", "holders", "pins", "holder_pids"]))
        print("\(objects.count) objects, \(total) bytes")
    }
}

/// `swiftray timeline`: a Chrome trace of the tasks that ran.
struct TimelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline", abstract: "Write a Chrome trace (chrome://tracing, Perfetto) of task and actor-call spans.")

    @Option(help: "The file to write (default: timeline-<time>.json here).")
    var output: String?

    @OptionGroup var cluster: ClusterOptions

    func run() async throws {
        let data = Data(ChromeTrace.json(try await cluster.state().tasks))
        let path = output ?? "timeline-\(Int(Date().timeIntervalSince1970)).json"
        try data.write(to: URL(fileURLWithPath: path))
        print("Wrote \(path); open it in chrome://tracing or https://ui.perfetto.dev")
    }
}

/// `swiftray logs`: a worker's, an actor's or a task's output, kept by the head.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a worker's output (by --pid, --actor ID|NAME or --task ID); --follow keeps printing.")

    @Option(help: "The worker process's pid.")
    var pid: Int32?

    @Option(help: "An actor's id or name.")
    var actor: String?

    @Option(help: "A task's id (its worker's output).")
    var task: String?

    @Option(help: "Lines to print from the end.")
    var tail: Int = 100

    @Flag(help: "Keep printing new output until interrupted.")
    var follow = false

    @OptionGroup var cluster: ClusterOptions

    func validate() throws {
        guard [pid != nil, actor != nil, task != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of --pid, --actor or --task")
        }
    }

    func run() async throws {
        var query = LogsQuery(pid: pid, actor: actor, task: task, tail: tail)
        while true {
            guard case .logs(_, let text, let next, let error) = try await cluster.ask(.logsRequest(requestID: 1, query)) else {
                throw ClusterError("no logs from the head")
            }
            if let error { throw ClusterError(error) }
            if !text.isEmpty { FileHandle.standardOutput.write(Data(text.utf8)) }
            guard follow else { return }
            query.offset = next
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

/// Turning state rows into tables and JSON.
enum Rows {
    static let columns: [String: [String]] = [
        "nodes": ["nodeID", "address", "alive", "isHead", "total", "available", "storedObjects", "storedBytes"],
        "workers": ["workerID", "pid", "nodeID", "kind", "actorID", "runningTasks", "alive"],
        "tasks": ["taskID", "name", "state", "type", "nodeID", "workerPID", "attempt", "error"],
        "actors": ["actorID", "className", "name", "state", "nodeID", "pid", "restarts", "deathCause"],
        "objects": ["objectID", "size", "location", "nodes", "holders", "pins", "holderPIDs"],
        "jobs": ["jobID", "type", "driverPID", "status", "binary", "startedAt", "endedAt"],
        "placement-groups": ["placementGroupID", "name", "strategy", "state", "bundles", "bundleNodes"],
    ]

    /// Each value's fields as strings (nil fields empty, enums by their raw value).
    static func of<T>(_ values: [T]) -> [[String: String]] {
        values.map { value in
            var row: [String: String] = [:]
            for child in Mirror(reflecting: value).children {
                guard let label = child.label else { continue }
                row[label] = text(child.value)
            }
            return row
        }
    }

    private static func text(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional { return mirror.children.first.map { text($0.value) } ?? "" }
        if let raw = value as? any RawRepresentable<String> { return raw.rawValue }
        if let resources = value as? [String: Double] {
            return resources.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        }
        return "\(value)"
    }

    /// The indices of the rows whose fields equal every `FIELD=VALUE` filter.
    static func matching(_ rows: [[String: String]], _ filters: [String]) throws -> [Int] {
        let pairs = try filters.map { filter -> (String, String) in
            guard let equals = filter.firstIndex(of: "=") else { throw ValidationError("--filter takes FIELD=VALUE, not '\(filter)'") }
            return (String(filter[..<equals]), String(filter[filter.index(after: equals)...]))
        }
        return rows.indices.filter { index in pairs.allSatisfy { rows[index][$0.0] == $0.1 } }
    }

    /// The values as a JSON array: numbers, booleans and nested objects keep their types.
    static func json<T: Encodable>(_ values: [T]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(values), as: UTF8.self)
    }

    static func table(_ rows: [[String: String]], columns: [String]) -> String {
        let widths = columns.map { column in rows.reduce(column.count) { max($0, ($1[column] ?? "").count) } }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        let header = line(columns.map { $0.uppercased() })
        return ([header] + rows.map { row in line(columns.map { row[$0] ?? "" }) }).joined(separator: "\n")
            + "\n\(rows.count) row(s)"
    }
}
