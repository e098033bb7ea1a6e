#!/usr/bin/env bash
# Job submission latency side by side: Ray 2.60's JobSubmissionClient (from PyPI) against a
# swift-ray head (`swiftray start --head`) and against a Ray head (`ray start --head`), 10 jobs
# each whose entrypoint prints the time it started.
#   bash Benchmarks/jobs_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /tmp/rayenv/bin/python -c "import ray.job_submission" 2>/dev/null; then
    [ -x /tmp/rayenv/bin/python ] || python3 -m venv /tmp/rayenv
    /tmp/rayenv/bin/pip install -q "ray[tune,serve,data,rllib]==2.60.0"
fi
swift build -c release --product swiftray >/dev/null
folder=$(mktemp -d)
trap '.build/release/swiftray stop --temp-dir "$folder" >/dev/null 2>&1 || true; /tmp/rayenv/bin/ray stop >/dev/null 2>&1 || true; rm -rf "$folder"' EXIT
.build/release/swiftray start --head --temp-dir "$folder" --port 0 --dashboard-port 0 --num-cpus 2 >/dev/null
RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$(cat "$folder/token")" /tmp/rayenv/bin/python Benchmarks/jobs_latency.py "$(cat "$folder/dashboard_url")" swift-ray
RAY_USAGE_STATS_ENABLED=0 /tmp/rayenv/bin/ray start --head --num-cpus 2 --dashboard-port 8265 --include-dashboard true >/dev/null 2>&1
# Ray 2.60's head may ask for its token (~/.ray/auth_token); the client then sends it.
RAY_AUTH_MODE=token /tmp/rayenv/bin/python Benchmarks/jobs_latency.py http://127.0.0.1:8265 "Ray 2.60" 2>/dev/null
