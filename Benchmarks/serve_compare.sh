#!/usr/bin/env bash
# Serve side by side with Ray Serve 2.60 in one run: a no-op deployment under wrk (64
# connections, keep-alive), 1 and 2 replicas, plus plain uvicorn as the ceiling.
#   bash Benchmarks/serve_compare.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -q wrk >/dev/null; }
if [ ! -x /tmp/rayenv/bin/python ]; then
    python3 -m venv /tmp/rayenv
    /tmp/rayenv/bin/pip install -q "ray[serve]==2.60.0" uvicorn
fi
swift build -c release --product swiftray-serve-bench >/dev/null
.build/release/swiftray-serve-bench "$seconds"
RAY_USAGE_STATS_ENABLED=0 /tmp/rayenv/bin/python Benchmarks/serve_ray.py "$seconds"
