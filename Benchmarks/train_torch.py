"""The Train benchmark's Python side: the same job as `swiftray-examples train` (an MLP 32-64-2 on
60k Gaussian-blob samples plus 10k test, global batch 128, 5 epochs, Adam lr 1e-3) with Ray's
TorchTrainer (2 workers, CPU) or in one plain torch process.
    python Benchmarks/train_torch.py ray|torch [workers]"""
import os, sys, tempfile, time
import numpy as np
import torch
import torch.nn as nn

SAMPLES, TEST, FEATURES, EPOCHS, BATCH = 60_000, 10_000, 32, 5, 128


def blobs(seed=7, classes=2, clusters=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes * clusters, FEATURES))
    cluster = rng.integers(0, len(centres), SAMPLES + TEST)
    x = (centres[cluster] + rng.normal(size=(SAMPLES + TEST, FEATURES))).astype(np.float32)
    return x, (cluster % classes).astype(np.int64)


def model():
    torch.manual_seed(42)
    return nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 2))


def epochs(net, x, y, batch, step_hook=None):
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(x))
        for start in range(0, len(x) - batch + 1, batch):
            index = order[start:start + batch]
            optimizer.zero_grad()
            loss = loss_fn(net(x[index]), y[index])
            loss.backward()
            optimizer.step()
        yield epoch, loss.item()


def accuracy(net, x, y):
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


def plain():
    torch.set_num_threads(1)
    start = time.perf_counter()
    x, y = blobs()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    net = model()
    for epoch, loss in epochs(net, x[:SAMPLES], y[:SAMPLES], BATCH):
        pass
    print(f"[plain torch, 1 process] {time.perf_counter() - start:.3f} s, test accuracy {accuracy(net, x[SAMPLES:], y[SAMPLES:]):.4f}")


def train_loop_per_worker(config):
    import ray.train as train
    import ray.train.torch as rtt
    torch.set_num_threads(1)
    x, y = blobs()
    rank, size = train.get_context().get_world_rank(), train.get_context().get_world_size()
    shard = slice(rank * SAMPLES // size, (rank + 1) * SAMPLES // size)
    xs, ys = torch.from_numpy(x[shard]), torch.from_numpy(y[shard])
    net = rtt.prepare_model(model())
    for epoch, loss in epochs(net, xs, ys, BATCH // size):
        acc = accuracy(net, torch.from_numpy(x[SAMPLES:]), torch.from_numpy(y[SAMPLES:]))
        # A checkpoint per epoch, as swift-ray's example keeps (Train V2 keeps metrics only with one).
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = None
            if rank == 0:
                torch.save(net.state_dict(), os.path.join(folder, "model.pt"))
                checkpoint = train.Checkpoint.from_directory(folder)
            train.report({"epoch": epoch + 1, "loss": loss, "accuracy": acc}, checkpoint=checkpoint)


def with_ray(workers):
    import ray
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer
    ray.init(include_dashboard=False, log_to_driver=False)
    start = time.perf_counter()
    trainer = TorchTrainer(train_loop_per_worker, scaling_config=ScalingConfig(num_workers=workers, use_gpu=False))
    result = trainer.fit()
    print(f"[Ray TorchTrainer, {workers} workers, construction to fit()] {time.perf_counter() - start:.3f} s, "
          f"test accuracy {(result.metrics or {}).get('accuracy', float('nan')):.4f} ({result.error or 'ok'})")
    ray.shutdown()


if __name__ == "__main__":
    if sys.argv[1] == "ray":
        with_ray(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    else:
        plain()
