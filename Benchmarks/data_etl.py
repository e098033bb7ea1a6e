"""The ETL job of data_compare.sh in Python: generate the input, run it with pandas, Polars, DuckDB
or Ray Data, and compare outputs. The input is CSV files, or Parquet files when the folder holds
those (generate writes both: FOLDER and FOLDER-parquet, pyarrow's defaults: snappy, dictionary).
    python data_etl.py generate FOLDER [FILES] [ROWS_PER_FILE]
    python data_etl.py pandas|polars|duckdb|raydata INPUT OUTPUT
    python data_etl.py compare REFERENCE_FOLDER OTHER_FOLDER...
    python data_etl.py ingest PARQUET_FOLDER [EPOCHS]   (Ray Data: materialize, then iter_batches(4096) summing a)"""
import glob, os, sys, time


def generate(folder, files=8, rows=900_000):
    import numpy as np, polars as pl
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(42)
    for f in range(files):
        ids = np.arange(f * rows, (f + 1) * rows)
        frame = pl.DataFrame({
            "id": ids,
            "key": rng.integers(0, 1000, rows),
            "a": rng.random(rows),
            "b": rng.random(rows),
            "name": ["n%d" % v for v in rng.integers(0, 100_000, rows)],
        })
        frame.write_csv(f"{folder}/part_{f:02d}.csv")
        os.makedirs(f"{folder}-parquet", exist_ok=True)
        import pyarrow.parquet as pq
        pq.write_table(frame.to_arrow(), f"{folder}-parquet/part_{f:02d}.parquet", compression="snappy")


def timed(name, job):
    start = time.perf_counter()
    job()
    print(f"RESULT {name} job {time.perf_counter() - start:.2f} s", flush=True)


def run(engine, source, out):
    os.makedirs(out, exist_ok=True)
    parquet = bool(glob.glob(f"{source}/*.parquet"))
    extension = "parquet" if parquet else "csv"
    files = sorted(glob.glob(f"{source}/*.{extension}"))
    if engine == "pandas":
        import pandas as pd

        def job():
            df = pd.concat([pd.read_parquet(f) if parquet else pd.read_csv(f) for f in files], ignore_index=True)
            df["c"] = df["a"] + df["b"]
            df = df[df["c"] > 1.0]
            result = df.groupby("key").agg(**{"sum(c)": ("c", "sum"), "mean(a)": ("a", "mean"), "count()": ("c", "size")})
            result.sort_index().reset_index().to_csv(f"{out}/result.csv", index=False)
        timed("pandas", job)
    elif engine == "polars":
        import polars as pl

        def job():
            ((pl.scan_parquet(files) if parquet else pl.scan_csv(files)).with_columns((pl.col("a") + pl.col("b")).alias("c")).filter(pl.col("c") > 1.0)
             .group_by("key").agg(pl.col("c").sum().alias("sum(c)"), pl.col("a").mean().alias("mean(a)"), pl.len().alias("count()"))
             .sort("key").collect().write_csv(f"{out}/result.csv"))
        timed("polars", job)
    elif engine == "duckdb":
        import duckdb

        def job():
            duckdb.sql(f"""COPY (SELECT key, sum(a + b) AS "sum(c)", avg(a) AS "mean(a)", count(*) AS "count()"
                FROM {"read_parquet" if parquet else "read_csv_auto"}('{source}/*.{extension}') WHERE a + b > 1.0 GROUP BY key ORDER BY key)
                TO '{out}/result.csv' (HEADER)""")
        timed("duckdb", job)
    elif engine == "raydata":
        import ray
        from ray.data.aggregate import Count, Mean, Sum
        start = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        print(f"RESULT raydata init {time.perf_counter() - start:.2f} s", flush=True)

        def job():
            ((ray.data.read_parquet(files) if parquet else ray.data.read_csv(files))
             .map_batches(lambda df: df.assign(c=df["a"] + df["b"]), batch_format="pandas")
             .filter(expr="c > 1.0")
             .groupby("key").aggregate(Sum("c"), Mean("a"), Count())
             .sort("key").repartition(1).write_csv(out))
        timed("raydata", job)


def ingest(source, epochs=3):
    import ray
    ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    start = time.perf_counter()
    ds = ray.data.read_parquet(sorted(glob.glob(f"{source}/*.parquet"))).materialize()
    print(f"RESULT raydata materialize {time.perf_counter() - start:.3f} s", flush=True)
    for epoch in range(1, epochs + 1):
        start, total, rows = time.perf_counter(), 0.0, 0
        for batch in ds.iter_batches(batch_size=4096, batch_format="numpy"):
            total += batch["a"].sum()
            rows += len(batch["a"])
        print(f"RESULT raydata epoch {epoch} {time.perf_counter() - start:.3f} s ({rows} rows, sum {total:.6e})", flush=True)


def compare(reference, others):
    import pandas as pd
    ref = pd.concat([pd.read_csv(f) for f in sorted(glob.glob(f"{reference}/*.csv"))], ignore_index=True)
    ref = ref[["key", "sum(c)", "mean(a)", "count()"]]
    for other in others:
        df = pd.concat([pd.read_csv(f) for f in sorted(glob.glob(f"{other}/*.csv"))], ignore_index=True)
        df = df[["key", "sum(c)", "mean(a)", "count()"]]
        same = (len(df) == len(ref) and (df["key"].values == ref["key"].values).all()
                and (df["count()"].values == ref["count()"].values).all()
                and ((df["sum(c)"] - ref["sum(c)"]).abs() <= 1e-9 * ref["sum(c)"].abs()).all()
                and ((df["mean(a)"] - ref["mean(a)"]).abs() <= 1e-12).all())
        print(f"COMPARE {os.path.basename(other)}: {len(df)} groups, {'equal' if same else 'DIFFERENT'} to {os.path.basename(reference)}")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "generate":
        generate(sys.argv[2], *map(int, sys.argv[3:]))
    elif mode == "ingest":
        ingest(sys.argv[2], *map(int, sys.argv[3:]))
    elif mode == "compare":
        compare(sys.argv[2], sys.argv[3:])
    else:
        run(mode, sys.argv[2], sys.argv[3])
