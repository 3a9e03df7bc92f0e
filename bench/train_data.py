"""Is training input-bound? Data-loader throughput (with / without the crop cache, with / without
augmentation) next to model forward+backward throughput, on the CPU, in samples per second.

    python bench/train_data.py                      # a temporary synthetic dataset (manifests.synthetic)
    python bench/train_data.py --data DATASET --models blinkformer_tiny blinkformer_small --repeats 5

Each number is the median of --repeats timed passes (after one warm-up pass); the table shows
the spread (min-max) beside it. The loader reads --batches batches of --batch-size samples.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from trainer.data import EyeWindowDataset  # noqa: E402
from trainer.models import create_model  # noqa: E402


def timed(fn, repeats):
    fn()  # warm-up: first cache open, allocator, thread pools
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        out.append(n / (time.perf_counter() - t0))
    return out


def loader_pass(ds, batch_size, batches, workers):
    # persistent workers: worker start-up is paid once (in the warm-up pass), as in a real epoch loop
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, drop_last=True)
    if len(loader) < batches:
        raise SystemExit(f"dataset has {len(loader)} batches of {batch_size}; need --batches {batches}")

    def run():
        n = 0
        for b, batch in enumerate(loader):
            n += len(batch["frames"])
            if b + 1 >= batches:
                break
        return n
    return run


def model_pass(model, batch_size, window, size):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, 256, (batch_size, window, 3, size, size), dtype=torch.uint8)
    y = torch.rand(batch_size, window)

    def run():
        out = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out["closure_logit"], y) + \
            out["blink_logit"].float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return batch_size
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="dataset directory (default: write a synthetic one to a temp dir)")
    ap.add_argument("--image-size", type=int, default=256, help="synthetic frame side in pixels")
    ap.add_argument("--models", nargs="+", default=["blinkformer_tiny", "blinkformer_small"])
    ap.add_argument("--stride", type=int, default=1, help="window stride (1: many samples from few frames)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    tmp = None
    root = args.data
    if root is None:
        from manifests.synthetic import write_tiny_dataset
        tmp = tempfile.mkdtemp(prefix="synblink-bench-")
        root = write_tiny_dataset(os.path.join(tmp, "data"), n_subjects=4, clips_per_subject=2, n_frames=39,
                                  size=args.image_size)
    cache_dir = os.path.join(tmp or tempfile.mkdtemp(prefix="synblink-bench-"), "cache")
    t0 = time.perf_counter()
    cached = EyeWindowDataset(root, cache_dir=cache_dir, stride=args.stride)
    build_s = time.perf_counter() - t0
    n_frames = len(cached._image_paths)
    uncached = EyeWindowDataset(root, cache=False, stride=args.stride)
    augmented = EyeWindowDataset(root, cache_dir=cache_dir, augment=True, stride=args.stride)
    print(f"dataset {root}: {n_frames} frames, {len(cached)} samples of {cached.window} frames (stride "
          f"{cached.stride}), crop {cached.crop.size}px")
    print(f"crop cache built in {build_s:.2f}s ({n_frames / build_s:.0f} frames/s, both eyes, one process); "
          f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")

    rows = []
    for w in args.workers:
        for name, ds in (("loader, crop cache", cached), ("loader, no cache (decode+crop)", uncached),
                         ("loader, cache + augment", augmented)):
            rows.append((f"{name}, workers={w}", timed(loader_pass(ds, args.batch_size, args.batches, w), args.repeats)))
    for name in args.models:
        torch.manual_seed(0)
        m = create_model(name, window=cached.window, crop_size=cached.crop.size).train()
        rows.append((f"{name} forward+backward+AdamW", timed(model_pass(m, args.batch_size, cached.window, cached.crop.size),
                                                             args.repeats)))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'samples/s (median)':>18}  {'min-max':>15}")
    for what, v in rows:
        print(f"{what:<{width}}  {statistics.median(v):>18.1f}  {min(v):>7.1f}-{max(v):<7.1f}")
    print(f"\n(batch {args.batch_size}, {args.batches} batches per loader pass, {args.repeats} repeats; a sample = "
          f"one eye x {cached.window} frames)")


if __name__ == "__main__":
    main()
