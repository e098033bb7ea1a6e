import Foundation
import RayAutoscaler
import XCTest

/// The scaling decisions, case by case: demand packed onto free capacity, launches in flight and
/// new nodes within each type's maximum; minimums kept; idle launched nodes removed only past the
/// timeout, above the minimum, and never while feasible demand waits.
final class ScalingPlannerTests: XCTestCase {
    private let config = AutoscalerConfig(
        nodeTypes: [
            .init(name: "cpu1", resources: ["CPU": 1], maxWorkers: 4),
            .init(name: "gpu", resources: ["CPU": 4, "GPU": 1], maxWorkers: 1),
        ],
        idleTimeoutSeconds: 5)

    private func head(available: [String: Double] = ["CPU": 0]) -> PlannedNode {
        PlannedNode(id: "head", type: nil, available: available, isIdle: true, idleSeconds: 100)
    }

    func testEightOneCPUTasksOnAZeroCPUHeadLaunchFourNodesAtMost() {
        let decision = ScalingPlanner(config: config).decide(demands: [ResourceDemand(["CPU": 1], count: 8)], nodes: [head()], launching: [:])
        XCTAssertEqual(decision.launches, ["cpu1": 4], "the first type that holds a task, up to its maximum; no GPU node for CPU tasks")
        XCTAssertEqual(decision.terminations, [])
    }

    func testDemandFillsFreeCapacityAndLaunchesInFlightFirst() {
        let busy = PlannedNode(id: "a", type: "cpu1", available: ["CPU": 1], isIdle: false, idleSeconds: 0)
        let decision = ScalingPlanner(config: config).decide(demands: [ResourceDemand(["CPU": 1], count: 4)], nodes: [head(), busy], launching: ["cpu1": 2])
        XCTAssertEqual(decision.launches, ["cpu1": 1], "1 on node a, 2 on the launching nodes, 1 new")
    }

    func testShapesOnlyOneTypeHoldsGoThereAndImpossibleOnesAreReported() {
        let decision = ScalingPlanner(config: config).decide(
            demands: [ResourceDemand(["CPU": 2, "GPU": 1]), ResourceDemand(["TPU": 1], count: 3)], nodes: [head()], launching: [:])
        XCTAssertEqual(decision.launches, ["gpu": 1])
        XCTAssertEqual(decision.infeasible, [["TPU": 1]])
    }

    /// A STRICT_SPREAD group's bundles each get their own node, even when one node would hold
    /// them all; a STRICT_PACK group comes as one summed shape and gets one node.
    func testStrictSpreadBundlesGetANodeEach() {
        let big = AutoscalerConfig(nodeTypes: [.init(name: "cpu4", resources: ["CPU": 4], maxWorkers: 5)])
        let spread = (0..<3).map { _ in ResourceDemand(["CPU": 1], spreadGroup: "pg1") }
        XCTAssertEqual(ScalingPlanner(config: big).decide(demands: spread, nodes: [head()], launching: [:]).launches, ["cpu4": 3])
        let packed = (0..<3).map { _ in ResourceDemand(["CPU": 1]) }
        XCTAssertEqual(ScalingPlanner(config: big).decide(demands: packed, nodes: [head()], launching: [:]).launches, ["cpu4": 1])
        let launching = ScalingPlanner(config: big).decide(demands: spread, nodes: [head()], launching: ["cpu4": 2])
        XCTAssertEqual(launching.launches, ["cpu4": 1], "nodes already launching take one bundle each")
    }

    func testMinimumsAreKept() {
        var withMinimum = config
        withMinimum.nodeTypes[0].minWorkers = 2
        let decision = ScalingPlanner(config: withMinimum).decide(demands: [ResourceDemand](), nodes: [head()], launching: ["cpu1": 1])
        XCTAssertEqual(decision.launches, ["cpu1": 1], "one running toward the minimum of 2")
    }

    func testIdleNodesGoOnlyPastTheTimeoutAboveTheMinimumAndWhenNothingWaits() {
        var withMinimum = config
        withMinimum.nodeTypes[0].minWorkers = 1
        let nodes = [
            head(),
            PlannedNode(id: "old", type: "cpu1", available: ["CPU": 1], isIdle: true, idleSeconds: 30),
            PlannedNode(id: "older", type: "cpu1", available: ["CPU": 1], isIdle: true, idleSeconds: 60),
            PlannedNode(id: "fresh", type: "cpu1", available: ["CPU": 1], isIdle: true, idleSeconds: 1),
            PlannedNode(id: "busy", type: "cpu1", available: ["CPU": 0], isIdle: false, idleSeconds: 0),
        ]
        let planner = ScalingPlanner(config: withMinimum)
        XCTAssertEqual(planner.decide(demands: [ResourceDemand](), nodes: nodes, launching: [:]).terminations, ["older", "old"],
                       "idle past 5 s, oldest first; the fresh and the busy node stay, 2 remain >= the minimum")
        XCTAssertEqual(planner.decide(demands: [ResourceDemand(["CPU": 1], count: 1)], nodes: nodes, launching: [:]).terminations, [],
                       "a waiting task may use them")
        XCTAssertEqual(planner.decide(demands: [ResourceDemand(["TPU": 1], count: 1)], nodes: nodes, launching: [:]).terminations.count, 2,
                       "an impossible shape does not hold nodes back")
    }

    func testRaysClusterConfigSpellingIsRead() throws {
        let json = #"""
            {"max_workers": 3, "idle_timeout_minutes": 0.5, "head_node_type": "head",
             "available_node_types": {"head": {"resources": {"CPU": 0}, "max_workers": 0},
                                      "cpu_node": {"resources": {"CPU": 1}, "min_workers": 1, "max_workers": 4}}}
            """#
        let config = try JSONDecoder().decode(AutoscalerConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config.nodeTypes, [.init(name: "cpu_node", resources: ["CPU": 1], minWorkers: 1, maxWorkers: 3)],
                       "the head type skipped, the global max_workers caps the type's")
        XCTAssertEqual(config.idleTimeoutSeconds, 30)
        let ours = try JSONDecoder().decode(AutoscalerConfig.self, from: Data(#"{"nodeTypes": [{"name": "a", "resources": {"CPU": 2}, "maxWorkers": 2}]}"#.utf8))
        XCTAssertEqual(ours.idleTimeoutSeconds, 60)
        XCTAssertEqual(ours.nodeTypes.first?.minWorkers, 0)
    }

    func testConfigurationProblemsAreNamed() {
        XCTAssertNil(config.problem)
        XCTAssertEqual(AutoscalerConfig(nodeTypes: []).problem, "no node types")
        XCTAssertNotNil(AutoscalerConfig(nodeTypes: [.init(name: "a", resources: [:], minWorkers: 3, maxWorkers: 2)]).problem)
    }
}
