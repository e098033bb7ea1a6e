import Foundation
import SwiftRay
import SwiftRayTune
import XCTest

@Remote func tuneObjective(_ config: TrialConfig) -> Metrics {
    ["score": pow(config["a"], 2) + config["b"]]
}

struct Refused: Error, CustomStringConvertible {
    var description: String { "refused this configuration" }
}

/// Fails for odd `n`.
@Remote func pickyObjective(_ config: TrialConfig) throws -> Metrics {
    guard let n = config.int("n"), n % 2 == 0 else { throw Refused() }
    return ["value": Double(n)]
}

/// Tune over a real local cluster: trials as tasks in worker processes.
final class TunerTests: XCTestCase {
    override func setUp() async throws {
        try await Ray.start(numCPUs: 2, includeDashboard: false)
    }

    override func tearDown() async throws {
        if Ray.isInitialized { try await ray.shutdown() }
    }

    func testTheSeedsExampleFindsTheBestOfAHundredTrials() async throws {
        let tuner = Tuner($tuneObjective.remote, paramSpace: ["a": .uniform(0, 1), "b": .uniform(0, 20)],
                          tuneConfig: TuneConfig(numSamples: 100, seed: 7))
        let results = try await tuner.fit()
        XCTAssertEqual(results.count, 100)
        XCTAssertTrue(results.errors.isEmpty)
        let best = try results.bestResult(metric: "score", mode: .min)
        let scores = results.compactMap { $0.metrics?["score"] }
        XCTAssertEqual(best.metrics?["score"], scores.min())
        XCTAssertEqual(best.metrics?["score"] ?? .nan, pow(best.config["a"], 2) + best.config["b"], accuracy: 1e-12, "computed in the task")
        for result in results {
            XCTAssertTrue((0..<1).contains(result.config["a"]) && (0..<20).contains(result.config["b"]), "\(result.config)")
        }
        let worst = try results.bestResult(metric: "score", mode: .max)
        XCTAssertEqual(worst.metrics?["score"], scores.max())
        XCTAssertThrowsError(try results.bestResult()) { XCTAssertEqual($0 as? TuneError, .noMetric) }
        XCTAssertThrowsError(try results.bestResult(metric: "loss", mode: .min)) { XCTAssertEqual($0 as? TuneError, .noTrialReported("loss")) }
    }

    func testFailedTrialsKeepTheirErrorAndTheRestGoOn() async throws {
        let tuner = Tuner($pickyObjective.remote, paramSpace: ["n": .grid([1, 2, 3, 4])],
                          tuneConfig: TuneConfig(metric: "value", mode: .max, maxConcurrentTrials: 1))
        let results = try await tuner.fit()
        XCTAssertEqual(results.map { $0.config.int("n") }, [1, 2, 3, 4], "trial order")
        XCTAssertEqual(results.errors.map { $0.config.int("n") }, [1, 3])
        XCTAssertTrue(results.errors.allSatisfy { $0.error?.contains("refused this configuration") ?? false })
        XCTAssertEqual(try results.bestResult().metrics?["value"], 4)
        let csv = results.csv().split(separator: "\n")
        XCTAssertEqual(csv.first, "trial_id,config/n,value,error")
        XCTAssertEqual(csv[2], "trial_00001,2,2.0,")
        XCTAssertTrue(csv[1].hasPrefix("trial_00000,1,,"), String(csv[1]))
        let decoded = try JSONDecoder().decode([TrialResult].self, from: Data(try results.json().utf8))
        XCTAssertEqual(decoded.map(\.trialID), results.map(\.trialID))
    }

    func testTrialsRunWithTheirTasksOptions() async throws {
        // Two CPUs per trial on a two-CPU node: one trial at a time, all finishing.
        let tuner = Tuner($tuneObjective.options(numCPUs: 2).remote, paramSpace: ["a": .grid([0, 1]), "b": 1], tuneConfig: TuneConfig())
        let results = try await tuner.fit()
        XCTAssertEqual(results.compactMap { $0.metrics?["score"] }, [1, 2])
        let impossible = try await Tuner($tuneObjective.options(numCPUs: 64).remote, paramSpace: ["a": 1, "b": 1]).fit()
        XCTAssertTrue(impossible[0].error?.contains("TaskUnschedulableError") ?? false, "\(impossible[0])")
    }
}

/// The search space and the variant generator, without a cluster.
final class SearchSpaceTests: XCTestCase {
    func testEveryDomainSamplesWithinItsBounds() {
        let space: [String: Domain] = [
            "u": .uniform(-1, 1), "q": .quniform(0, 10, q: 2.5), "log": .loguniform(1e-4, 1e-1), "normal": .randn(mean: 5, sd: 0),
            "int": .randint(3, 7), "logint": .lograndint(1, 1000), "pick": .choice(["sgd", "adam"]), "fixed": 0.5,
        ]
        let configs = Tuner({ _ in fatalError("not run") }, paramSpace: space, tuneConfig: TuneConfig(numSamples: 500, seed: 1)).configurations()
        XCTAssertEqual(configs.count, 500)
        for config in configs {
            XCTAssertTrue((-1..<1).contains(config["u"]))
            XCTAssertEqual(config["q"].truncatingRemainder(dividingBy: 2.5), 0)
            XCTAssertTrue((1e-4..<1e-1).contains(config["log"]))
            XCTAssertEqual(config["normal"], 5)
            XCTAssertTrue((3..<7).contains(config.int("int")!))
            XCTAssertTrue((1..<1000).contains(config.int("logint")!))
            XCTAssertTrue(["sgd", "adam"].contains(config.string("pick")!))
            XCTAssertEqual(config["fixed"], 0.5)
        }
        XCTAssertEqual(Set(configs.map { config in config.int("int")! }), [3, 4, 5, 6], "every integer comes up")
        let small = configs.filter { config in config["log"] < 1e-3 }.count
        XCTAssertTrue((100...230).contains(small), "loguniform: a third of samples per decade, got \(small) of 500 below 1e-3")
        XCTAssertTrue(configs.map { config in config["u"] }.isEmpty == false)
        XCTAssertTrue(configs.allSatisfy { config in config["missing"].isNaN }, "a missing number reads as NaN")
    }

    func testGridsAreCrossProductsRepeatedPerSample() {
        let space: [String: Domain] = ["a": .grid([1, 2, 3]), "opt": .nested(["name": .grid(["x", "y"]), "lr": .uniform(0, 1)])]
        let configs = Tuner({ _ in fatalError("not run") }, paramSpace: space, tuneConfig: TuneConfig(numSamples: 2, seed: 3)).configurations()
        XCTAssertEqual(configs.count, 12)
        let points = configs.map { "\($0.int("a")!)\($0.string("opt.name")!)" }
        XCTAssertEqual(points, ["1x", "1y", "2x", "2y", "3x", "3y", "1x", "1y", "2x", "2y", "3x", "3y"])
        XCTAssertEqual(Set(configs.map { $0["opt.lr"] }).count, 12, "the other parameters are sampled for each")
    }

    func testComputedValuesSeeTheOthersAndSeedsReproduce() {
        let space: [String: Domain] = [
            "width": .randint(1, 100),
            "double": .sampleFrom { config in .int(config.int("width")! * 2) },
            "inner": .nested(["half": .sampleFrom { config in .double(config["width"] / 2) }]),
        ]
        let first = Tuner({ _ in fatalError("not run") }, paramSpace: space, tuneConfig: TuneConfig(numSamples: 20, seed: 42)).configurations()
        for config in first {
            XCTAssertEqual(config.int("double"), config.int("width")! * 2)
            XCTAssertEqual(config["inner.half"], config["width"] / 2)
        }
        let again = Tuner({ _ in fatalError("not run") }, paramSpace: space, tuneConfig: TuneConfig(numSamples: 20, seed: 42)).configurations()
        XCTAssertEqual(first, again, "the same seed samples the same trials")
        let other = Tuner({ _ in fatalError("not run") }, paramSpace: space, tuneConfig: TuneConfig(numSamples: 20, seed: 43)).configurations()
        XCTAssertNotEqual(first, other)
    }
}
