"""Training throughput (eye windows per second) of the whole step: data loading + forward +
backward + AdamW, with and without the crop cache, on the CPU (and on CUDA when present).

    python bench/train_speed.py                          # a tiny synthetic dataset in /tmp
    python bench/train_speed.py --data DIR --models blinkformer_tiny blinkformer_small --steps 20

Prints one table row per (device, model, cache): median windows/s and ms/step over --repeats
timed runs of --steps steps each (after --warmup untimed steps). The dataset's own crop cache is
built before timing; "no cache" cuts every crop from the PNGs on each access, as a first epoch
without a cache would.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from trainer.config import TrainConfig  # noqa: E402
from trainer.fit import amp_dtype, autocast, compute_loss  # noqa: E402


def time_steps(model, loader, cfg, device, steps: int, warmup: int) -> float:
    """Seconds for `steps` full training steps (data included), after `warmup` untimed ones."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    dtype = amp_dtype(cfg, device)
    it = iter(loader)

    def step():
        nonlocal it
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        frames = batch["frames"].to(device)
        with autocast(device, dtype):
            out = model(frames)
        loss, _ = compute_loss(out, {k: v.to(device) for k, v in batch.items() if torch.is_tensor(v)}, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="dataset directory (default: write a tiny synthetic one to /tmp)")
    p.add_argument("--models", nargs="+", default=["blinkformer_tiny"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--num-workers", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    data = a.data
    if data is None:
        from manifests.synthetic import write_tiny_dataset
        data = "/tmp/synblink_bench_train_speed"
        if not (Path(data) / "frames.csv").is_file():
            write_tiny_dataset(data, n_subjects=4, clips_per_subject=4, size=96, seed=0)
    from trainer.data import EyeWindowDataset
    from trainer.models import create_model

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    cfg = TrainConfig(data=data)
    rows = []
    for device in devices:
        for name in a.models:
            for cache in (True, False):
                ds = EyeWindowDataset(data, window=cfg.window, crop_size=cfg.crop_size, cache=cache)
                loader = DataLoader(ds, batch_size=a.batch_size, shuffle=True, num_workers=a.num_workers,
                                    drop_last=len(ds) > a.batch_size)
                torch.manual_seed(0)
                model = create_model(name).to(device).train()
                times = [time_steps(model, loader, cfg, device, a.steps, a.warmup) for _ in range(a.repeats)]
                med = statistics.median(times)
                rows.append((device.type, name, "yes" if cache else "no", a.batch_size,
                             a.steps * a.batch_size / med, 1000 * med / a.steps))
    print(f"data: {data}  threads: {torch.get_num_threads()}  workers: {a.num_workers}  "
          f"median of {a.repeats} x {a.steps} steps")
    print(f"{'device':6} {'model':22} {'cache':5} {'batch':>5} {'windows/s':>10} {'ms/step':>9}")
    for dev, name, cache, b, sps, ms in rows:
        print(f"{dev:6} {name:22} {cache:5} {b:5d} {sps:10.1f} {ms:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
