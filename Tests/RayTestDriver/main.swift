import Foundation
import SwiftRay
import SwiftRayTune

// A driver that tests run as a separate process:
//   RayTestDriver hold          start a cluster, start two long tasks, print "PIDS <driver> <workers...>", block
//   RayTestDriver print [--quiet] run a task that prints, then exit (checks log forwarding)
//   RayTestDriver connect ADDRESS TOKEN   join a cluster, run a task, print "RESULT n" or "ERROR why"
//   RayTestDriver dashboard     start a cluster asking for a dashboard, print "DASHBOARD url" or "DASHBOARD none"
//   RayTestDriver share ADDRESS TOKEN     join a cluster, put 42 and a task's result, leave their refs in
//                               the key-value store ("shared-put", "shared-task"), print "SHARED", exit
//   RayTestDriver tune STORAGE MARKS     run six slow reporting trials, saving the experiment under STORAGE
//   RayTestDriver tune-restore STORAGE MARKS   restore that experiment, print "RESULT trials errors"
// (every trial step appends "<trial> <step>" to the file MARKS).
// It links SwiftRay only (no SwiftRayTLS, no SwiftRayDashboard): what a plain program carries.

@Remote func sleeper(_ seconds: Double) async throws -> Int {
    print("sleeper started")
    try await Task.sleep(for: .seconds(seconds))
    return 1
}

@Remote func printer(_ text: String) -> Int {
    print(text)
    return text.count
}

/// Ten steps of 50 ms, each appended to the file `config.marks`, checkpointing every 5; resumes
/// after its checkpoint's step.
@Remote func slowTrial(_ config: TrialConfig) -> AsyncThrowingStream<TrialReport, any Error> {
    .trial(config) { session in
        let start = try session.checkpoint?.decode(Int.self) ?? 0
        for step in (start + 1)...10 {
            try await Task.sleep(for: .milliseconds(50))
            let line = "\(config.int("id") ?? -1) \(step)\n"
            let fd = open(config.string("marks") ?? "", O_WRONLY | O_APPEND)  // appends from two workers stay whole
            if fd >= 0 {
                _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                close(fd)
            }
            try await session.report(["step": Double(step)], checkpoint: step % 5 == 0 ? try Checkpoint(step) : nil)
        }
    }
}

/// The experiment both `tune` modes run.
func slowExperiment(marks: String, storage: String) -> (space: [String: Domain], config: TuneConfig) {
    (["id": .grid([0, 1, 2, 3, 4, 5]), "marks": .constant(.string(marks))],
     TuneConfig(maxConcurrentTrials: 2, progress: .never, storagePath: storage))
}

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "hold":
    let ray = try await Ray.start(numCPUs: 2)
    let refs = [$sleeper.remote(600), $sleeper.remote(600)]
    _ = try await ray.wait(refs, numReturns: 1, timeout: .milliseconds(300))
    let pids = await ray.workerPIDs()
    say("PIDS \(getpid()) " + pids.map(String.init).joined(separator: " "))
    try await Task.sleep(for: .seconds(600))
case "print":
    let ray = try await Ray.start(numCPUs: 1, logToDriver: !arguments.contains("--quiet"))
    let count = try await ray.get($printer.remote("hello from a task"))
    say("RESULT \(count)")
    try await ray.shutdown()
case "connect" where arguments.count == 3:
    do {
        let ray = try await Ray.start(address: arguments[1], token: arguments[2])
        say("RESULT \(try await ray.get($printer.remote("hello")))")
        try await ray.shutdown()
    } catch {
        say("ERROR \(error)")
        exit(1)
    }
case "share" where arguments.count == 3:
    let ray = try await Ray.start(address: arguments[1], token: arguments[2])
    let put = try ray.put(42)
    let task = $printer.remote("shared")
    _ = try await ray.get(task)
    try await ray.kv.put("shared-put", value: put)
    try await ray.kv.put("shared-task", value: task)
    say("SHARED")
    try await ray.shutdown()
case "tune" where arguments.count == 3:
    _ = try await Ray.start(numCPUs: 2, includeDashboard: false)
    let (space, config) = slowExperiment(marks: arguments[2], storage: arguments[1])
    say("TUNING")
    _ = try await Tuner($slowTrial.remote, paramSpace: space, tuneConfig: config, name: "restorable").fit()
    say("FINISHED")
case "tune-restore" where arguments.count == 3:
    let ray = try await Ray.start(numCPUs: 2, includeDashboard: false)
    let (space, config) = slowExperiment(marks: arguments[2], storage: arguments[1])
    let results = try await Tuner.restore(arguments[1] + "/restorable", trainable: $slowTrial.remote, paramSpace: space, tuneConfig: config).fit()
    say("RESULT \(results.count) \(results.errors.count) \(results.map { $0.history.count })")
    try await ray.shutdown()
case "dashboard":
    let ray = try await Ray.start(numCPUs: 1, includeDashboard: true, dashboardPort: 0)
    say("DASHBOARD \(ray.dashboardURL ?? "none")")
    try await ray.shutdown()
default:
    say("usage: RayTestDriver hold | print [--quiet] | connect ADDRESS TOKEN | share ADDRESS TOKEN | tune STORAGE MARKS | tune-restore STORAGE MARKS | dashboard")
    exit(2)
}
