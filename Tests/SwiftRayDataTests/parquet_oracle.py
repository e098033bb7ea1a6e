"""pyarrow as the oracle for SwiftRayData's Parquet files.

  write DIR   writes files in several pyarrow configurations and DIR/expected.json (their values)
  read FILE.. prints each file's columns and arrow types as JSON, read by pyarrow
"""
import json
import math
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def table(rows, seed):
    ids = list(range(seed, seed + rows))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "small": pa.array([None if i % 7 == 0 else i % 100 for i in ids], pa.int32()),
        "price": pa.array([None if i % 11 == 0 else i * 0.25 - 3.5 for i in ids], pa.float64()),
        "ratio": pa.array([i / 8 for i in ids], pa.float32()),
        "flag": pa.array([None if i % 13 == 0 else i % 3 == 0 for i in ids], pa.bool_()),
        "name": pa.array([None if i % 5 == 0 else f"name-{i % 37}-é" for i in ids], pa.string()),
        "unique": pa.array([f"u{i * 7919}" for i in ids], pa.string()),
    })


CONFIGS = {
    "snappy_dict_v1.parquet": dict(compression="snappy", use_dictionary=True, data_page_version="1.0"),
    "gzip_plain_v2.parquet": dict(compression="gzip", use_dictionary=False, data_page_version="2.0"),
    "none_dict_v2.parquet": dict(compression="none", use_dictionary=True, data_page_version="2.0"),
    "snappy_groups.parquet": dict(compression="snappy", row_group_size=700, data_page_size=4096),
}


def values(t):
    out = {}
    for name in t.column_names:
        column = t.column(name).to_pylist()
        out[name] = [None if v is None else (float(v) if isinstance(v, float) else v) for v in column]
    return out


def write(folder):
    expected = {}
    for number, (name, options) in enumerate(CONFIGS.items()):
        t = table(2000 + 500 * number, number * 10000)
        pq.write_table(t, f"{folder}/{name}", **options)
        expected[name] = values(t)
    print(json.dumps(expected), file=open(f"{folder}/expected.json", "w"))
    # A codec this module does not read: its error must name it.
    pq.write_table(table(10, 0), f"{folder}/zstd.unsupported", compression="zstd")


def read(paths):
    out = {}
    for path in paths:
        t = pq.read_table(path)
        out[path] = {"values": values(t), "types": {f.name: str(f.type) for f in t.schema},
                     "rows": t.num_rows, "groups": pq.ParquetFile(path).num_row_groups}
    print(json.dumps(out, allow_nan=True))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        read(sys.argv[2:])
