"""Ray Tune's side of the seed's Tune example: 100 samples of a trivial objective, timed from
`Tuner` construction to the best result (after a separate, timed `ray.init`). Prints
`NAME seconds S`. Usage (the Ray venv from Benchmarks/compare-with-ray.sh):

    RAY_USAGE_STATS_ENABLED=0 /tmp/rayenv/bin/python Benchmarks/tune_seed.py [--reuse-actors]
"""
import sys
import time

import ray
from ray import tune


def objective(config):
    return {"score": config["a"] ** 2 + config["b"]}


def main():
    reuse = "--reuse-actors" in sys.argv
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False)
    print(f"ray.init seconds {time.perf_counter() - started:.2f}")
    started = time.perf_counter()
    tuner = tune.Tuner(
        objective,
        param_space={"a": tune.uniform(0, 1), "b": tune.uniform(0, 20)},
        tune_config=tune.TuneConfig(num_samples=100, reuse_actors=reuse),
    )
    best = tuner.fit().get_best_result(metric="score", mode="min")
    label = "tune 100 trials (reuse_actors)" if reuse else "tune 100 trials"
    print(f"{label} seconds {time.perf_counter() - started:.2f}")
    print(best.metrics["score"])
    ray.shutdown()


if __name__ == "__main__":
    main()
