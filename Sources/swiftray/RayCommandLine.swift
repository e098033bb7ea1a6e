import Foundation

/// Ray's command lines as KubeRay writes them (`ray start --head --block --dashboard-host=0.0.0.0
/// --metrics-export-port=8080 --dashboard-agent-listen-port=52365 --num-cpus=1 --memory=2147483648`,
/// `ray health-check --address SVC:6379`), turned into `swiftray`'s. The binary runs this way when
/// called as `ray` (the container image links `ray` to `swiftray`). Ray flags swift-ray has no use
/// for are dropped with a warning, never an error, so an operator's new flag cannot stop a pod.
enum RayCommandLine {
    /// Ray flag -> swiftray flag, for flags that carry over (value flags keep their value).
    static let renamed: [String: String] = [
        "address": "address", "port": "port", "num-cpus": "num-cpus", "num-gpus": "num-gpus", "memory": "memory",
        "resources": "resources", "object-store-memory": "object-store-memory", "dashboard-host": "dashboard-host",
        "dashboard-port": "dashboard-port", "include-dashboard": "include-dashboard", "temp-dir": "temp-dir",
        "dashboard-agent-listen-port": "health-port", "node-manager-port": "", "token": "token",
    ]
    /// Flags without a value.
    static let switches: Set<String> = ["head", "block", "disable-usage-stats", "verbose", "log-color", "no-monitor", "include-log-monitor"]
    static let keptSwitches: Set<String> = ["head", "block"]

    /// `arguments` (after the program name) as swiftray's, and a warning per dropped flag.
    static func translate(_ arguments: [String]) -> (arguments: [String], warnings: [String]) {
        guard let command = arguments.first else { return ([], []) }
        let rest = Array(arguments.dropFirst())
        switch command {
        case "start": return translateStart(rest)
        case "health-check": return (["health-check"] + keepOnly(["address", "temp-dir"], rest).arguments, keepOnly(["address", "temp-dir"], rest).warnings)
        case "kuberay-autoscaler": return translateAutoscaler(rest)
        default: return (arguments, [])
        }
    }

    private static func translateStart(_ arguments: [String]) -> (arguments: [String], warnings: [String]) {
        var result = ["start"], warnings: [String] = []
        for (name, value) in flags(arguments) {
            if keptSwitches.contains(name) {
                result.append("--\(name)")
            } else if let target = renamed[name], !target.isEmpty, let value {
                result += ["--\(target)", value]
            } else {
                warnings.append("ignoring Ray's --\(name)\(value.map { "=\($0)" } ?? ""): swift-ray has no use for it")
            }
        }
        return (result, warnings)
    }

    /// KubeRay's autoscaler sidecar (`ray kuberay-autoscaler --cluster-name N --cluster-namespace NS`)
    /// runs in the head's pod: the head is on loopback at Ray's port unless an address is given.
    private static func translateAutoscaler(_ arguments: [String]) -> (arguments: [String], warnings: [String]) {
        let kept = keepOnly(["cluster-name", "cluster-namespace", "address", "token"], arguments)
        let address = kept.arguments.contains("--address") ? [] : ["--address", "127.0.0.1:6379"]
        return (["autoscaler"] + kept.arguments + address, kept.warnings)
    }

    private static func keepOnly(_ names: Set<String>, _ arguments: [String]) -> (arguments: [String], warnings: [String]) {
        var result: [String] = [], warnings: [String] = []
        for (name, value) in flags(arguments) {
            if names.contains(name), let value { result += ["--\(name)", value] } else { warnings.append("ignoring Ray's --\(name)") }
        }
        return (result, warnings)
    }

    /// `--name=value`, `--name value` and `--switch`, in order (a stray word is dropped).
    static func flags(_ arguments: [String]) -> [(name: String, value: String?)] {
        var flags: [(String, String?)] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            guard word.hasPrefix("--") else { continue }
            let body = String(word.dropFirst(2))
            if let equals = body.firstIndex(of: "=") {
                flags.append((String(body[..<equals]), String(body[body.index(after: equals)...])))
            } else if switches.contains(body) || index >= arguments.count || arguments[index].hasPrefix("--") {
                flags.append((body, nil))
            } else {
                flags.append((body, arguments[index]))
                index += 1
            }
        }
        return flags
    }
}
