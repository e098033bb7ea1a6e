"""Ray Tune's side of the Tune rows: the seed's example (100 samples of a trivial objective) and
ASHA over 64 learning curves of 100 iterations (`--asha`, the same curve as
`swiftray-seed-bench`'s ASHA row), each timed from `Tuner` construction to the best result
(after a separate, timed `ray.init`). Prints `NAME seconds S`. Usage (the Ray venv from
Benchmarks/compare-with-ray.sh):

    RAY_USAGE_STATS_ENABLED=0 /tmp/rayenv/bin/python Benchmarks/tune_seed.py [--reuse-actors] [--asha]
"""
import math
import sys
import time

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler


def objective(config):
    return {"score": config["a"] ** 2 + config["b"]}


def learning_curve(config):
    for step in range(1, 101):
        tune.report({"accuracy": config["quality"] * (1 - math.exp(-step / 10))})


def asha(reuse):
    started = time.perf_counter()
    tuner = tune.Tuner(
        learning_curve,
        param_space={"quality": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(
            num_samples=64, metric="accuracy", mode="max", reuse_actors=reuse,
            scheduler=ASHAScheduler(max_t=100, grace_period=1, reduction_factor=4)),
    )
    results = tuner.fit()
    best = results.get_best_result()
    elapsed = time.perf_counter() - started
    iterations = sum(r.metrics["training_iteration"] for r in results)
    label = "tune ASHA 64 trials x 100 iterations" + (" (reuse_actors)" if reuse else "")
    print(f"{label} seconds {elapsed:.2f} iterations {iterations} best {best.metrics['accuracy']:.4f}")


def main():
    reuse = "--reuse-actors" in sys.argv
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False)
    print(f"ray.init seconds {time.perf_counter() - started:.2f}")
    if "--asha" in sys.argv:
        asha(reuse)
        ray.shutdown()
        return
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
