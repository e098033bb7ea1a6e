import Prometheus
import RayWire
import Synchronization

/// The Prometheus endpoint: gauges set from each scrape's snapshot, and a histogram of scheduling
/// latency (submission to start) over the tasks that started since the last scrape.
final class DashboardMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let latency: DurationHistogram
    /// Tasks already counted in the histogram (by id), bounded like the scheduler's history.
    private let counted = Mutex<Set<String>>([])

    init() {
        latency = registry.makeDurationHistogram(
            descriptor: Self.descriptor("ray_scheduling_latency", unit: "seconds", "Time from a task's submission to its start on a worker"),
            buckets: [.microseconds(100), .milliseconds(1), .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(10)])
    }

    func text(for state: ClusterState) -> String {
        for taskState in TaskState.State.allCasesForMetrics {
            gauge("ray_tasks", "Tasks and actor calls by state", labels: [("state", taskState.rawValue)])
                .set(Double(state.tasks.filter { $0.state == taskState }.count))
        }
        for actorState in ActorState.State.allCasesForMetrics {
            gauge("ray_actors", "Actors by state", labels: [("state", actorState.rawValue)])
                .set(Double(state.actors.filter { $0.state == actorState }.count))
        }
        for location in ["inline", "shared-memory", "spilled", "remote", "pending", "error"] {
            let objects = state.objects.filter { $0.location == location }
            gauge("ray_object_store_objects", "Objects by location", labels: [("location", location)]).set(Double(objects.count))
            gauge("ray_object_store_bytes", "Object bytes by location", labels: [("location", location)])
                .set(Double(objects.reduce(0) { $0 + $1.size }))
        }
        for node in state.nodes {
            gauge("ray_node_object_store_bytes", "Bytes of object copies in a node's shared-memory store", labels: [("node", node.nodeID)])
                .set(Double(node.alive ? node.storedBytes : 0))
            for (resource, total) in node.total {
                let labels = [("node", node.nodeID), ("resource", resource)]
                gauge("ray_resources_total", "Resources a node offers", labels: labels).set(node.alive ? total : 0)
                gauge("ray_resources_used", "Resources in use on a node", labels: labels)
                    .set(node.alive ? total - (node.available[resource] ?? 0) : 0)
            }
        }
        gauge("ray_nodes_alive", "Live nodes").set(Double(state.nodes.filter(\.alive).count))
        gauge("ray_workers", "Live worker processes (drivers excluded)")
            .set(Double(state.workers.filter { $0.alive && $0.kind != "driver" }.count))
        recordLatencies(state.tasks)
        experimentGauges(state.experiments)
        datasetGauges(state.datasets)
        return registry.emitToString() + ServeMetrics.text(state.serve)
    }

    /// Trials by state and every trial's latest metrics, per published tuning experiment.
    private func experimentGauges(_ experiments: [ExperimentStatus]) {
        for experiment in experiments {
            for status in ["PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"] {
                gauge("ray_tune_trials", "Trials of a tuning experiment by state", labels: [("experiment", experiment.name), ("state", status)])
                    .set(Double(experiment.counts[status] ?? 0))
            }
            for trial in experiment.trials {
                for (metric, value) in trial.latest where value.isFinite {
                    let labels = [("experiment", experiment.name), ("trial", trial.trialID), ("metric", metric)]
                    gauge("ray_tune_trial_metric", "A trial's latest reported metric", labels: labels).set(value)
                }
            }
        }
    }

    /// Each published dataset execution's operators (Ray Data's metric names).
    private func datasetGauges(_ datasets: [DatasetStatus]) {
        for dataset in datasets {
            for op in dataset.operators {
                let labels = [("dataset", dataset.datasetID), ("operator", op.name)]
                gauge("ray_data_output_rows", "Rows an operator of a dataset has output", labels: labels).set(Double(op.rows))
                gauge("ray_data_output_bytes", "Bytes an operator of a dataset has output", labels: labels).set(Double(op.bytes))
                gauge("ray_data_num_tasks_finished", "Tasks an operator of a dataset has finished", labels: labels).set(Double(op.tasks))
            }
        }
    }

    private func gauge(_ name: String, _ help: String, labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor(name, unit: "", help), labels: labels)
    }

    private static func descriptor(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: unit, helpText: help)
    }

    private func recordLatencies(_ tasks: [TaskState]) {
        let fresh = counted.withLock { counted -> [TaskState] in
            let new = tasks.filter { $0.startedAt != nil && !counted.contains($0.taskID) }
            for task in new { counted.insert(task.taskID) }
            if counted.count > 20_000 { counted = Set(tasks.map(\.taskID)) }
            return new
        }
        for task in fresh {
            latency.recordNanoseconds(max(0, (task.startedAt! - task.submittedAt) * 1000))
        }
    }
}

extension TaskState.State {
    static let allCasesForMetrics: [Self] = [.pendingArgsAvail, .pendingNodeAssignment, .running, .finished, .failed]
}

extension ActorState.State {
    static let allCasesForMetrics: [Self] = [.pendingCreation, .alive, .restarting, .dead]
}
