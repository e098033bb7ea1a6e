#!/usr/bin/env bash
# Ray Data's seed job side by side in one run: SwiftRayData (swiftray-data-bench) against Ray Data
# 2.60, pandas, Polars and DuckDB on the same generated input (8 CSV files, ~400 MB: id, key in
# 0..999, two floats, a short string): read -> c = a + b -> c > 1 -> group by key (sum, mean,
# count) -> sort -> write CSV. Each run's wall time and the peak resident memory of its whole process
# tree; outputs compared for equality.
# With --parquet the same job reads the same rows as Parquet files (snappy, dictionary, written by
# pyarrow) instead.
# With --ingest: the Parquet rows materialized in the object store, then three epochs of
# iter_batches(4096) summing a column (a training loop's ingest), swift-ray against Ray Data.
#   bash Benchmarks/data_compare.sh [--parquet | --ingest] [FILES ROWS_PER_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /tmp/rayenv/bin/python -c "import ray.data, pandas, polars, duckdb, pyarrow" 2>/dev/null; then
    [ -x /tmp/rayenv/bin/python ] || python3 -m venv /tmp/rayenv
    /tmp/rayenv/bin/pip install -q "ray[tune,serve,data,rllib]==2.60.0" pandas polars duckdb pyarrow
fi
py=/tmp/rayenv/bin/python
format=csv; flag=""
if [ "${1:-}" = "--parquet" ]; then format=parquet; flag=--parquet; shift; fi
if [ "${1:-}" = "--ingest" ]; then format=ingest; shift; fi
work=${DATA_BENCH_DIR:-/tmp/swiftray-data-bench}
if [ ! -f "$work/input-parquet/part_07.parquet" ] || [ -n "${1:-}" ]; then
    rm -rf "$work/input" "$work/input-parquet"
    $py Benchmarks/data_etl.py generate "$work/input" "${1:-8}" "${2:-900000}"
fi
input="$work/input"; [ $format != csv ] && input="$work/input-parquet"
du -sh "$input"
swift build -c release --product swiftray-data-bench >/dev/null
rm -rf "$work"/out-*
measure() { $py Benchmarks/peak_tree_rss.py "$@" 2>/dev/null | grep -E "RESULT|whole run"; }
if [ $format = ingest ]; then
    echo "swift-ray:"; measure .build/release/swiftray-data-bench --ingest "$input"
    echo "raydata:"; measure $py Benchmarks/data_etl.py ingest "$input"
    exit 0
fi
echo "swift-ray:"; measure .build/release/swiftray-data-bench "$input" "$work/out-swiftray" $flag
for engine in pandas polars duckdb raydata; do
    echo "$engine:"; measure $py Benchmarks/data_etl.py $engine "$input" "$work/out-$engine"
done
$py Benchmarks/data_etl.py compare "$work/out-pandas" "$work/out-swiftray" "$work/out-polars" "$work/out-duckdb" "$work/out-raydata"
