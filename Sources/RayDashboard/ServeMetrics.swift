import RayWire

/// Serve's Prometheus series (Ray's names), written from what the Serve hosts publish: request,
/// error and refusal counters, the processing latency histogram, replicas and ongoing requests
/// per deployment.
enum ServeMetrics {
    static func text(_ hosts: [ServeHostStatus]) -> String {
        let deployments = hosts.flatMap { host in host.applications.map { (host, $0) } }
        guard !deployments.isEmpty else { return "" }
        var out = ""
        func series(_ name: String, _ type: String, _ help: String, _ value: (ServeDeploymentStatus) -> Double) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (host, app) in deployments {
                out += "\(name){\(labels(host, app))} \(format(value(app.deployment)))\n"
            }
        }
        series("ray_serve_deployment_request_counter_total", "counter", "Requests a deployment's replicas answered") { Double($0.served) }
        series("ray_serve_deployment_error_counter_total", "counter", "Requests whose replica threw") { Double($0.failed) }
        series("ray_serve_num_rejected_requests_total", "counter", "Requests refused at the queue limit (503)") { Double($0.refused) }
        series("ray_serve_deployment_replica_restarts_total", "counter", "Replicas replaced after dying or failing a health check") {
            Double($0.replaced)
        }
        series("ray_serve_deployment_replicas", "gauge", "Running replicas") { Double($0.runningReplicas) }
        series("ray_serve_deployment_target_replicas", "gauge", "Replicas the deployment aims at") { Double($0.targetReplicas) }
        series("ray_serve_replica_processing_queries", "gauge", "Requests on replicas now") { Double($0.ongoingRequests) }
        series("ray_serve_deployment_queued_queries", "gauge", "Requests waiting for a replica") { Double($0.queuedRequests) }
        out += histogram(deployments)
        return out
    }

    private static func histogram(_ deployments: [(ServeHostStatus, ServeApplicationStatus)]) -> String {
        let name = "ray_serve_deployment_processing_latency_ms"
        var out = "# HELP \(name) Time a replica took to answer, in milliseconds\n# TYPE \(name) histogram\n"
        for (host, app) in deployments {
            let stats = app.deployment
            guard stats.latencyCounts.count == stats.latencyBucketsMs.count + 1 else { continue }
            let base = labels(host, app)
            var cumulative = 0
            for (bound, count) in zip(stats.latencyBucketsMs.map(format) + ["+Inf"], stats.latencyCounts) {
                cumulative += count
                out += "\(name)_bucket{\(base),le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "\(name)_sum{\(base)} \(format(stats.latencySumMs))\n\(name)_count{\(base)} \(cumulative)\n"
        }
        return out
    }

    private static func labels(_ host: ServeHostStatus, _ app: ServeApplicationStatus) -> String {
        "application=\"\(escape(app.name))\",deployment=\"\(escape(app.deployment.name))\",route=\"\(escape(app.routePrefix))\""
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
