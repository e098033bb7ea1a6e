#!/usr/bin/env bash
# Ray Data's seed job side by side in one run: SwiftRayData (swiftray-data-bench) against Ray Data
# 2.60, pandas, Polars and DuckDB on the same generated input (8 CSV files, ~400 MB: id, key in
# 0..999, two floats, a short string): read -> c = a + b -> c > 1 -> group by key (sum, mean,
# count) -> sort -> write CSV. Each run's wall time and the peak resident memory of its whole process
# tree; outputs compared for equality.
#   bash Benchmarks/data_compare.sh [FILES ROWS_PER_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /tmp/rayenv/bin/python -c "import ray.data, pandas, polars, duckdb, pyarrow" 2>/dev/null; then
    [ -x /tmp/rayenv/bin/python ] || python3 -m venv /tmp/rayenv
    /tmp/rayenv/bin/pip install -q "ray[tune,serve,data,rllib]==2.60.0" pandas polars duckdb pyarrow
fi
py=/tmp/rayenv/bin/python
work=${DATA_BENCH_DIR:-/tmp/swiftray-data-bench}
if [ ! -f "$work/input/part_07.csv" ] || [ -n "${1:-}" ]; then
    rm -rf "$work/input"
    $py Benchmarks/data_etl.py generate "$work/input" "${1:-8}" "${2:-900000}"
fi
du -sh "$work/input"
swift build -c release --product swiftray-data-bench >/dev/null
rm -rf "$work"/out-*
measure() { $py Benchmarks/peak_tree_rss.py "$@" 2>/dev/null | grep -E "RESULT|whole run"; }
echo "swift-ray:"; measure .build/release/swiftray-data-bench "$work/input" "$work/out-swiftray"
for engine in pandas polars duckdb raydata; do
    echo "$engine:"; measure $py Benchmarks/data_etl.py $engine "$work/input" "$work/out-$engine"
done
$py Benchmarks/data_etl.py compare "$work/out-pandas" "$work/out-swiftray" "$work/out-polars" "$work/out-duckdb" "$work/out-raydata"
