/// Pauses between attempts to reach a head that went away (node daemons rejoining, workers
/// re-attaching detached actors): every 50 ms for the first 2 s, since a restarted head listens
/// again within about 150 ms and a missed one costs the whole wait, then doubling to once a second.
package struct ReconnectBackoff {
    private let started = ContinuousClock.now
    private var pause = Duration.milliseconds(50)

    package init() {}

    /// Sleeps before the next attempt.
    package mutating func wait() async {
        try? await Task.sleep(for: pause)
        if ContinuousClock.now - started >= .seconds(2) { pause = Swift.min(pause * 2, .seconds(1)) }
    }
}
