import ArgumentParser
import Foundation
import RayBenchmarks
import SwiftRay

/// The `swiftray` command line.
@main
struct SwiftRayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftray",
        abstract: "swift-ray: Ray, the distributed computing framework, in Swift.",
        subcommands: [
            StartCommand.self, StopCommand.self, StatusCommand.self, ListCommand.self, SummaryCommand.self, MemoryCommand.self,
            TimelineCommand.self, LogsCommand.self, ServeCommand.self, JobCommand.self, HealthCheckCommand.self, AutoscalerCommand.self, MicrobenchmarkCommand.self,
        ])

    /// Called as `ray` (KubeRay's command lines), Ray's arguments are translated first.
    static func main() async {
        let program = (CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent }) ?? "swiftray"
        var arguments = Array(CommandLine.arguments.dropFirst())
        if program == "ray" {
            let translated = RayCommandLine.translate(arguments)
            for warning in translated.warnings { FileHandle.standardError.write(Data("swiftray (as ray): \(warning)\n".utf8)) }
            arguments = translated.arguments
        }
        await main(arguments)
    }
}

/// `swiftray microbenchmark`: Ray's `ray microbenchmark` rows, measured on a local cluster.
struct MicrobenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "microbenchmark",
        abstract: "Run the workloads of Ray's `ray microbenchmark` and print `NAME per second MEAN +- STD` per row.")

    @Option(help: "Run only rows whose name contains this text (default: $TESTS_TO_RUN, else all).")
    var filter: String?

    @Option(help: "Seconds per timed trial (Ray: 2).")
    var trialSeconds: Double = 2

    @Option(help: "Timed trials per row (Ray: 4).")
    var trials: Int = 4

    @Option(name: .customLong("num-cpus"), help: "CPUs of the local cluster (default: the machine's).")
    var numCPUs: Int?

    func run() async throws {
        let filter = self.filter ?? ProcessInfo.processInfo.environment["TESTS_TO_RUN"]
        print("Tip: set TESTS_TO_RUN='pattern' (or --filter) to run a subset of benchmarks")
        let timeit = Timeit(warmup: .milliseconds(Int(trialSeconds * 500)), trial: .milliseconds(Int(trialSeconds * 1000)), trials: trials)
        try await Microbenchmark(filter: filter, timeit: timeit, numCPUs: numCPUs).run()
    }
}
