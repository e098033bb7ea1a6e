"""RLlib 2.60 measured as Benchmarks/RL/main.swift measures SwiftRayRL (run both with
Benchmarks/rl_compare.sh).

  python rl_rllib.py sample          env steps/s of 2 env runners sampling CartPole-v1 (1 and 4 envs each)
  python rl_rllib.py ppo [budget_s]  default PPO on CartPole-v1, 2 env runners, evaluated every 2
                                     iterations (10 episodes) until the evaluation mean reaches 475
                                     or the budget (default 300 s) runs out
"""
import os
import sys
import time

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
import ray  # noqa: E402
from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402


def sample():
    for envs in (1, 4):
        algo = (PPOConfig().environment("CartPole-v1")
                .env_runners(num_env_runners=2, num_envs_per_env_runner=envs).build_algo())
        steps = 8192 // envs * envs

        def run(runner):
            return sum(len(episode) for episode in runner.sample(num_timesteps=steps))

        algo.env_runner_group.foreach_env_runner(run, local_env_runner=False)  # warm-up
        start, total = time.perf_counter(), 0
        for _ in range(3):
            total += sum(algo.env_runner_group.foreach_env_runner(run, local_env_runner=False))
        elapsed = time.perf_counter() - start
        print(f"RESULT rllib sample 2 runners x {envs} envs: {total / elapsed:.0f} env steps/s", flush=True)
        algo.stop()


def ppo(budget):
    start = time.perf_counter()
    algo = (PPOConfig().environment("CartPole-v1").env_runners(num_env_runners=2)
            .evaluation(evaluation_interval=2, evaluation_duration=10, evaluation_duration_unit="episodes")
            .debugging(seed=0).build_algo())
    built = time.perf_counter()
    print(f"rllib build {built - start:.1f} s", flush=True)
    while True:
        result = algo.train()
        elapsed = time.perf_counter() - built
        runners = result["env_runners"]
        evaluation = result.get("evaluation", {}).get("env_runners", {}).get("episode_return_mean")
        steps = int(runners["num_env_steps_sampled_lifetime"])
        shown = f" eval {evaluation:.1f}" if evaluation is not None else ""
        print(f"rllib iter {result['training_iteration']:3d} steps {steps:7d} return {runners['episode_return_mean']:7.1f}{shown} ({elapsed:.1f} s)", flush=True)
        if evaluation is not None and evaluation >= 475:
            print(f"RESULT rllib PPO CartPole-v1: evaluation return >= 475 after {steps} steps, {elapsed:.1f} s (+{built - start:.1f} s to build)", flush=True)
            break
        if elapsed > budget:
            print(f"RESULT rllib PPO CartPole-v1: not at 475 within {budget:.0f} s ({steps} steps, iteration {result['training_iteration']})", flush=True)
            break
    algo.stop()


if __name__ == "__main__":
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    mode = sys.argv[1] if len(sys.argv) > 1 else "sample"
    if mode == "sample":
        sample()
    else:
        ppo(float(sys.argv[2]) if len(sys.argv) > 2 else 300)
    ray.shutdown()
