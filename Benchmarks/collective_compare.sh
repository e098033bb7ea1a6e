#!/usr/bin/env bash
# Allreduce bandwidth side by side in one run: SwiftRayCollective vs torch.distributed (gloo, CPU),
# 2 processes, Float32 buffers of 1-256 MB.
#   bash Benchmarks/collective_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /tmp/rayenv/bin/python -c "import torch" 2>/dev/null; then
    [ -x /tmp/rayenv/bin/python ] || python3 -m venv /tmp/rayenv
    /tmp/rayenv/bin/pip install -q torch
fi
swift build -c release --product swiftray-collective-bench >/dev/null
.build/release/swiftray-collective-bench
/tmp/rayenv/bin/python Benchmarks/collective_gloo.py
