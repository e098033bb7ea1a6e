import SwiftRay

/// A deployment's request statistics for `/metrics` and the dashboard: counts, a latency
/// histogram (Ray's `ray_serve_deployment_processing_latency_ms` buckets) and the last 1,024
/// latencies for percentiles.
struct DeploymentStats: Sendable {
    static let bucketsMs: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    private static let kept = 1024

    var served = 0
    var failed = 0
    var refused = 0
    /// Counts per bucket, the last one over every bound (+Inf); not cumulative.
    private(set) var counts = [Int](repeating: 0, count: bucketsMs.count + 1)
    private(set) var sumMs = 0.0
    private var recent: [Double] = []
    private var next = 0

    mutating func record(_ latency: Duration) {
        let ms = Double(latency.components.seconds) * 1000 + Double(latency.components.attoseconds) / 1e15
        counts[Self.bucketsMs.firstIndex { ms <= $0 } ?? Self.bucketsMs.count] += 1
        sumMs += ms
        if recent.count < Self.kept {
            recent.append(ms)
        } else {
            recent[next] = ms
            next = (next + 1) % Self.kept
        }
    }

    /// The `quantiles` (each 0...1) of the recent latencies from one sort; nils before any.
    func percentiles(_ quantiles: [Double]) -> [Double?] {
        guard !recent.isEmpty else { return quantiles.map { _ in nil } }
        let sorted = recent.sorted()
        return quantiles.map { sorted[min(sorted.count - 1, Int((Double(sorted.count) * $0).rounded(.down)))] }
    }
}
