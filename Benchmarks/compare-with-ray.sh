#!/usr/bin/env bash
# Runs Ray's `ray microbenchmark` and `swiftray microbenchmark` on this machine, one after the
# other, and prints a table: row, Ray, swift-ray, ratio, target.
#
#   Benchmarks/compare-with-ray.sh            # every row
#   TESTS_TO_RUN='actor' Benchmarks/compare-with-ray.sh
#
# Ray is installed from PyPI into $RAY_VENV (default /tmp/rayenv) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${RAY_VENV:-/tmp/rayenv}"
out="${OUT_DIR:-$(mktemp -d)}"
mkdir -p "$out"

if [ ! -x "$venv/bin/ray" ] || ! "$venv/bin/python" -c 'import ray, numpy' 2>/dev/null; then
    echo "installing Ray into $venv ..." >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q "ray[default]" numpy  # ray_perf.py needs numpy
fi

echo "building swiftray (release) ..." >&2
swift build -c release --product swiftray >&2

echo "running Ray's microbenchmark ..." >&2
RAY_USAGE_STATS_ENABLED=0 "$venv/bin/ray" microbenchmark > "$out/ray.txt" 2>&1 || true
# Rows ray_perf.py lacks (ActorPool, ...): the same work in Python.
RAY_USAGE_STATS_ENABLED=0 "$venv/bin/python" Benchmarks/ray_extra_rows.py >> "$out/ray.txt" 2>&1 || true
echo "running swift-ray's microbenchmark ..." >&2
.build/release/swiftray microbenchmark > "$out/swiftray.txt" 2>&1

python3 - "$out/ray.txt" "$out/swiftray.txt" "$("$venv/bin/python" -c 'import ray; print(ray.__version__)')" <<'PY'
import re, sys
targets = {
    "single client get calls (Plasma Store)": 500000, "single client put calls (Plasma Store)": 100000,
    "multi client put calls (Plasma Store)": 50000, "single client put gigabytes": 3.0,
    "multi client put gigabytes": 6.0, "single client tasks and get batch": 30,
    "single client get object containing 10k refs": 100, "single client wait 1k refs": 30,
    "single client tasks sync": 5000, "single client tasks async": 50000, "multi client tasks async": 50000,
    "1:1 actor calls sync": 6000, "1:1 actor calls async": 100000, "1:1 actor calls concurrent": 100000,
    "1:n actor calls async": 100000, "n:n actor calls async": 100000, "n:n actor calls with arg async": 50000,
    "1:1 async-actor calls sync": 6000, "1:1 async-actor calls async": 100000,
    "1:1 async-actor calls with args async": 50000, "1:n async-actor calls async": 100000,
    "n:n async-actor calls async": 100000, "placement group create/removal": 10000,
    "actor pool map calls": 50000,
}
line = re.compile(r"^(.*) per second ([0-9.e+]+) \+- ([0-9.e+]+)")
def parse(path):
    rows = {}
    for text in open(path, errors="replace"):
        m = line.match(text.strip())
        if m: rows.setdefault(m.group(1), float(m.group(2)))
    return rows
ray, ours, version = parse(sys.argv[1]), parse(sys.argv[2]), sys.argv[3]
def fmt(v): return "-" if v is None else (f"{v:,.2f}" if v < 100 else f"{v:,.0f}")
print(f"| row | Ray {version} | swift-ray | ratio | target | met |")
print("|---|---:|---:|---:|---:|:---:|")
for name, target in targets.items():
    r, s = ray.get(name), ours.get(name)
    ratio = f"{s / r:,.1f}x" if r and s else "-"
    met = "-" if s is None else ("yes" if s >= target else "no")
    print(f"| {name} | {fmt(r)} | {fmt(s)} | {ratio} | {fmt(target)} | {met} |")
PY
echo "raw outputs: $out" >&2
