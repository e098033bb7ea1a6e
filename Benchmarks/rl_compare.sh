#!/usr/bin/env bash
# RL side by side in one run: SwiftRayRL (swiftray-rl-bench) and RLlib 2.60 (rl_rllib.py) on this
# machine, 2 env runners each: env steps/s sampled, PPO on CartPole-v1 to an evaluation mean of
# 475 (3 seeds here; RLlib one seed, up to RLLIB_BUDGET seconds), DQN on CartPole-v1 to 400 and
# PPO on Pendulum-v1 to -300 (swift-ray only).
#   bash Benchmarks/rl_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /tmp/rayenv/bin/python -c "import ray.rllib, gymnasium, tree" 2>/dev/null; then
    [ -x /tmp/rayenv/bin/python ] || python3 -m venv /tmp/rayenv
    /tmp/rayenv/bin/pip install -q "ray[tune,serve,data,rllib]==2.60.0" torch
fi
swift build -c release --product swiftray-rl-bench >/dev/null
bench=.build/release/swiftray-rl-bench
$bench sample | grep RESULT
rllib() {  # RLlib's chatter goes to a log, shown if a run prints no result
    /tmp/rayenv/bin/python Benchmarks/rl_rllib.py "$@" 2>/tmp/rl_rllib.err | grep -E "RESULT|rllib build" \
        || { echo "RLlib run failed ($*):"; tail -5 /tmp/rl_rllib.err; }
}
rllib sample
for mode in ppo-cartpole dqn-cartpole ppo-pendulum; do
    $bench $mode 0,1,2 | grep RESULT
done
rllib ppo "${RLLIB_BUDGET:-700}"
