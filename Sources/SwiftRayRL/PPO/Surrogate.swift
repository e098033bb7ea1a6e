import Foundation

/// PPO's clipped surrogate for one sample: `-min(r·A, clip(r, 1±ε)·A)` with `r` the probability
/// ratio, and its slope with respect to the new log-probability (zero where the clip binds).
struct Surrogate {
    var loss: Double
    var slope: Double
    var isClipped: Bool

    init(logProbability: Double, oldLogProbability: Double, advantage: Double, clip: Double) {
        let ratio = exp(logProbability - oldLogProbability)
        let unclipped = ratio * advantage, bounded = min(max(ratio, 1 - clip), 1 + clip) * advantage
        loss = -min(unclipped, bounded)
        isClipped = unclipped > bounded
        slope = isClipped ? 0 : -advantage * ratio
    }
}

/// A minibatch's PPO policy loss, its mean KL estimate and clipped fraction.
struct ObjectiveSummary {
    var loss = 0.0, kl = 0.0, clipped = 0.0
}
