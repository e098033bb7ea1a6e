"""Runs a command and prints its output, the wall time and the peak resident memory of its whole
process tree (the driver, its workers, and for Ray its GCS, raylet and helpers), sampled every
50 ms from /proc.
    python3 Benchmarks/peak_tree_rss.py COMMAND [ARGS...]"""
import os, subprocess, sys, time

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root):
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    total, frontier = 0, [root]
    while frontier:
        pid = frontier.pop()
        total += rss.get(pid, 0)
        frontier += [child for child, parent in parents.items() if parent == pid]
    return total


start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:])
peak = 0
while process.poll() is None:
    peak = max(peak, tree_rss(process.pid))
    time.sleep(0.05)
print(f"    (whole run {time.perf_counter() - start:.2f} s, peak resident memory of the process tree {peak / 2**20:.0f} MiB, exit {process.returncode})")
