#!/usr/bin/env bash
# Train side by side in one run: swift-ray's DataParallelTrainer (swiftray-examples train, 1 and 2
# workers), Ray 2.60 TorchTrainer (2 workers, CPU) and plain single-process torch, the same job:
# MLP 32-64-2, 60k samples, global batch 128, 5 epochs. Times from the trainer's construction to
# fit() returning; memory is the peak resident set of each run's whole process tree.
#   bash Benchmarks/train_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /tmp/rayenv/bin/python -c "import torch, ray.train" 2>/dev/null; then
    [ -x /tmp/rayenv/bin/python ] || python3 -m venv /tmp/rayenv
    /tmp/rayenv/bin/pip install -q "ray[tune,serve,data,rllib]==2.60.0" torch
fi
swift build -c release --product swiftray-examples >/dev/null
for workers in 1 2; do
    SWIFTRAY_TRAIN_WORKERS=$workers python3 Benchmarks/peak_tree_rss.py .build/release/swiftray-examples train | grep -v "^epoch\|^dashboard\|^== "
done
python3 Benchmarks/peak_tree_rss.py /tmp/rayenv/bin/python Benchmarks/train_torch.py torch
RAY_USAGE_STATS_ENABLED=0 python3 Benchmarks/peak_tree_rss.py /tmp/rayenv/bin/python Benchmarks/train_torch.py ray 2 2>/dev/null
