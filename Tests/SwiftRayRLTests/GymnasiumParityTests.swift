import Foundation
import SwiftRayRL
import XCTest

/// The environments against trajectories recorded from gymnasium 1.4 and NumPy 2.4
/// (`Data/record_gymnasium.py`): the same seed and actions give the same observations, rewards,
/// terminations and truncations, step for step.
final class GymnasiumParityTests: XCTestCase {
    struct Recording: Decodable {
        struct Episode: Decodable {
            let env: String
            let seed: UInt64
            let reset: [Float]
            let actions: [RecordedAction]
            let observations: [[Float]]
            let rewards: [Double]
            let terminated: [Bool]
            let truncated: [Bool]
        }

        let episodes: [Episode]
        let pcg64_uint64: [String: [UInt64]]
    }

    /// An action as recorded: an integer (discrete) or a list (continuous).
    enum RecordedAction: Decodable {
        case discrete(Int), continuous([Float])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let index = try? container.decode(Int.self) { self = .discrete(index) } else { self = .continuous(try container.decode([Float].self)) }
        }

        var action: Action {
            switch self {
            case .discrete(let index): .discrete(index)
            case .continuous(let values): .continuous(values)
            }
        }
    }

    static let recording: Recording = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Data/trajectories.json")
        return try! JSONDecoder().decode(Recording.self, from: Data(contentsOf: path))
    }()

    func testPCG64DrawsWhatNumPyDraws() {
        for (seed, expected) in Self.recording.pcg64_uint64 {
            var random = PCG64(seed: UInt64(seed)!)
            XCTAssertEqual((0..<4).map { _ in random.next() }, expected, "seed \(seed)")
        }
    }

    func testCartPoleMatchesGymnasiumStepForStep() throws {
        try replay(Self.recording.episodes.filter { $0.env == "CartPole-v1" }, as: CartPole.self)
    }

    func testPendulumMatchesGymnasiumStepForStep() throws {
        try replay(Self.recording.episodes.filter { $0.env == "Pendulum-v1" }, as: Pendulum.self)
    }

    private func replay<E: Environment>(_ episodes: [Recording.Episode], as type: E.Type) throws {
        XCTAssertFalse(episodes.isEmpty)
        for episode in episodes {
            var environment = TimeLimited<E>()
            XCTAssertEqual(environment.reset(seed: episode.seed).observation, episode.reset, "\(episode.env) seed \(episode.seed): the start")
            for (index, recorded) in episode.actions.enumerated() {
                let result = try environment.step(recorded.action)
                let context = "\(episode.env) seed \(episode.seed) step \(index + 1)"
                XCTAssertEqual(result.observation, episode.observations[index], context)
                XCTAssertEqual(result.reward, episode.rewards[index], accuracy: 1e-9, context)
                XCTAssertEqual(result.terminated, episode.terminated[index], context)
                XCTAssertEqual(result.truncated, episode.truncated[index], context)
                if result.observation != episode.observations[index] { return }
            }
        }
    }

    func testEpisodesEndAsGymnasiumsDoAndMisuseIsATypedError() throws {
        let lengths = Self.recording.episodes.filter { $0.env == "CartPole-v1" }.map(\.actions.count)
        XCTAssertTrue(lengths.contains(500), "one recorded episode reaches the 500-step limit")
        var cartPole = CartPole()
        XCTAssertThrowsError(try cartPole.step(.discrete(0))) { XCTAssertEqual($0 as? EnvironmentError, .notReset) }
        _ = cartPole.reset(seed: 1)
        XCTAssertThrowsError(try cartPole.step(.discrete(2))) { XCTAssertEqual($0 as? EnvironmentError, .invalidAction(.discrete(2), .discrete(2))) }
        XCTAssertThrowsError(try cartPole.step(.continuous([0]))) { XCTAssertNotNil($0 as? EnvironmentError) }
        var pendulum = Pendulum()
        _ = pendulum.reset(seed: 2)
        XCTAssertThrowsError(try pendulum.step(.discrete(0))) { XCTAssertNotNil($0 as? EnvironmentError) }
        XCTAssertNoThrow(try pendulum.step(.continuous([10])), "a torque out of range is clipped, as in gymnasium")
        XCTAssertThrowsError(try Environments.type(named: "Nope-v0")) { XCTAssertEqual($0 as? EnvironmentError, .unknown("Nope-v0")) }
        XCTAssertTrue(try Environments.type(named: "CartPole-v1") == CartPole.self)
    }

    func testTheSameSeedStartsTheSameEpisodeAndNoSeedContinues() {
        var a = CartPole(), b = CartPole()
        let first = a.reset(seed: 9).observation
        XCTAssertEqual(b.reset(seed: 9).observation, first)
        XCTAssertNotEqual(a.reset(seed: nil).observation, first, "an unseeded reset draws on")
        XCTAssertEqual(a.reset(seed: 9).observation, first)
    }
}

final class VectorEnvironmentTests: XCTestCase {
    func testCopiesAreSeededInTurnAndResetWhenTheirEpisodeEnds() throws {
        var vector = VectorEnvironment<CartPole>(count: 3)
        let starts = vector.reset(seed: 10)
        for index in 0..<3 {
            var single = CartPole()
            XCTAssertEqual(single.reset(seed: 10 + UInt64(index)).observation, starts[index], "copy \(index) is seeded 10 + \(index)")
        }
        // Always push right: every copy's pole falls within a few dozen steps.
        var finished: [(episodeReturn: Double, length: Int)] = []
        var steps = 0
        while finished.count < 3, steps < 500 {
            let step = try vector.step(Array(repeating: .discrete(1), count: 3))
            steps += 1
            for (index, done) in zip(step.terminated, step.truncated).map({ $0 || $1 }).enumerated() where done {
                XCTAssertNotNil(step.finalObservations[index], "the ending step's observation is kept")
                XCTAssertNotEqual(step.observations[index], step.finalObservations[index], "and the copy starts over")
            }
            finished += step.finishedEpisodes
        }
        XCTAssertGreaterThanOrEqual(finished.count, 3)
        XCTAssertTrue(finished.allSatisfy { $0.episodeReturn == Double($0.length) && $0.length < 100 }, "\(finished)")
        XCTAssertThrowsError(try vector.step([.discrete(1)]), "one action per copy")
    }
}
