"""Ray's figures for the rows swift-ray's microbenchmark adds to ray_perf.py's (see
Sources/RayBenchmarks/ExtraRows.swift): the same work, timed the way ray_perf times its rows,
printed as `NAME per second MEAN +- STD`. TESTS_TO_RUN selects rows, as for ray microbenchmark.

    RAY_USAGE_STATS_ENABLED=0 /tmp/rayenv/bin/python Benchmarks/ray_extra_rows.py
"""
import multiprocessing
import os

import ray
from ray._private.ray_microbenchmark_helpers import timeit
from ray.util import ActorPool


@ray.remote(num_cpus=0)
class Actor:
    def small_value(self):
        return b"ok"


@ray.remote(num_returns="streaming")
def items(count):
    for _ in range(count):
        yield b"ok"


def main():
    pattern = os.environ.get("TESTS_TO_RUN", "")
    ray.init()
    cpus = max(1, multiprocessing.cpu_count() // 2)

    if pattern in "actor pool map calls":
        actors = [Actor.remote() for _ in range(cpus)]
        ray.get([a.small_value.remote() for a in actors])
        pool = ActorPool(actors)

        def pool_map():
            results = list(pool.map(lambda a, _: a.small_value.remote(), range(10_000)))
            assert len(results) == 10_000

        timeit("actor pool map calls", pool_map, 10_000)

    if pattern in "single client streaming generator items":
        def stream():
            count = 0
            for ref in items.remote(10_000):
                ray.get(ref)
                count += 1
            assert count == 10_000

        timeit("single client streaming generator items", stream, 10_000)
    ray.shutdown()


if __name__ == "__main__":
    main()
