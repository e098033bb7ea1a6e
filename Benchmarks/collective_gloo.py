"""torch.distributed (gloo, CPU) allreduce bandwidth with 2 processes on this machine, the side of
Benchmarks/collective_compare.sh that swiftray-collective-bench is measured against."""
import os, socket, time
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, port, results):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    small = torch.ones(4484, dtype=torch.float32)
    for _ in range(10):
        dist.all_reduce(small)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(2000):
        dist.all_reduce(small)
    if rank == 0:
        results.put((0, (time.perf_counter() - start) / 2000))
    for megabytes in (1, 4, 16, 64, 256):
        repeats = 5 if megabytes >= 64 else 20
        buffer = torch.ones(megabytes * (1 << 20) // 4, dtype=torch.float32)
        dist.all_reduce(buffer)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            dist.all_reduce(buffer)
        seconds = (time.perf_counter() - start) / repeats
        if rank == 0:
            results.put((megabytes, seconds))
    dist.destroy_process_group()


if __name__ == "__main__":
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    results = context.Queue()
    mp.spawn(worker, args=(port, results), nprocs=2, join=True)
    print(f"torch {torch.__version__} gloo allreduce, 2 processes, Float32")
    print("size_MB  seconds/op  algbw_GB/s")
    while not results.empty():
        megabytes, seconds = results.get()
        if megabytes == 0:
            print(f"17.5 KiB allreduce: {seconds * 1e6:.1f} us")
            continue
        print(f"{megabytes:7d}  {seconds:10.5f}  {megabytes * (1 << 20) / seconds / 1e9:10.2f}")
