"""Ray Serve's side of Benchmarks/serve_compare.sh: a no-op deployment loaded by wrk (64
connections, keep-alive) with 1 and 2 replicas, the time from serve.run to the first answer, and
plain uvicorn (no Serve) as the ceiling. Usage (the Ray venv from Benchmarks/compare-with-ray.sh):

    RAY_USAGE_STATS_ENABLED=0 /tmp/rayenv/bin/python Benchmarks/serve_ray.py [seconds]
"""
import subprocess
import sys
import threading
import time
import urllib.request

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def wrk(url):
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{SECONDS}s", "--latency", url], capture_output=True, text=True).stdout
    lines = [line.strip() for line in out.splitlines()]
    pick = lambda prefix: next((line for line in lines if line.startswith(prefix)), prefix + " ?")
    errors = next((line for line in lines if line.startswith("Non-2xx") or line.startswith("Socket errors")), "no errors")
    return f"{pick('Requests/sec:')}  p{pick('50%')}  p{pick('99%')}  ({errors})"


def resident_mib():
    """Resident memory of this process and every process under it (Ray's GCS, raylet, workers)."""
    import os

    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    family, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in family:
                family.add(pid)
                frontier.append(pid)
    total = 0
    for pid in family:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total / 1024


def uvicorn_ceiling():
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=8123, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    print("plain uvicorn:", wrk("http://127.0.0.1:8123/"))
    server.should_exit = True
    thread.join()


def main():
    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False)

    @serve.deployment(max_ongoing_requests=64)
    class NoOp:
        async def __call__(self, request):
            return {"ok": True}

    for replicas in (1, 2):
        started = time.perf_counter()
        serve.run(NoOp.options(num_replicas=replicas).bind(), name="noop", route_prefix="/")
        urllib.request.urlopen("http://127.0.0.1:8000/").read()
        print(f"Ray Serve, {replicas} replica(s): run to first answer {time.perf_counter() - started:.2f} s")
        print(f"Ray Serve, {replicas} replica(s):", wrk("http://127.0.0.1:8000/"))
        print(f"Ray Serve, {replicas} replica(s): resident {resident_mib():.0f} MiB (driver and every Ray process it started)")
        serve.delete("noop")

    @serve.deployment(max_ongoing_requests=64)
    class FixedCostModel:
        """2 ms per model call however many inputs, one call at a time (as the Swift side)."""

        def __init__(self):
            import threading
            self.lock = threading.Lock()

        def model(self, inputs):
            with self.lock:
                time.sleep(0.002)
            return inputs

        @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
        async def batched(self, inputs):
            return self.model(inputs)

        async def __call__(self, request):
            if request.url.path.endswith("/batched"):
                return {"ok": await self.batched(1)}
            return {"ok": self.model([1])[0]}

    serve.run(FixedCostModel.bind(), name="model", route_prefix="/")
    for path in ("single", "batched"):
        print(f"Ray Serve, fixed-cost model, {path}:", wrk(f"http://127.0.0.1:8000/{path}"))
    serve.shutdown()
    ray.shutdown()
    uvicorn_ceiling()


if __name__ == "__main__":
    main()
