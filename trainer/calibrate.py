"""Calibrate a checkpoint's closure output on SYNTHETIC validation data: `python -m trainer.calibrate`.

    python -m trainer.calibrate --checkpoint RUN/last.pt --out RUN/calibrated.pt [--data DIR --split val]

Why: one event threshold (trainer.events EVENT_HIGH = 0.5 on closure) must hold for eyes 10 to
100 px tall, and the eye-state threshold must be chosen without real data. The closure logit z of
every validation frame is collected at the data's own resolution and after resampling the crop
down to 24, 16 and 12 px and back (small eyes), then a logistic (Platt) map sigmoid(a z + b) is
fitted to "closed" (label closure >= 0.5) with every resolution and both classes weighted
equally, so closure 0.5 is the balanced decision at every size. The map is written into the
model's closure_scale / closure_bias buffers (every consumer of the checkpoint sees it) and the
fit, with balanced accuracy per resolution before and after, under "calibration" in the
checkpoint. The output checkpoint is model-only (no optimiser state): small enough to ship.

Data: --data/--split default to the checkpoint's own validation split (its config and split
record). Never real data: real sets are measurement only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from manifests.cli_errors import one_line_errors
from manifests.io import ManifestError
from trainer import metrics

RESOLUTIONS = (0, 24, 16, 12)  # 0: the data's own; else crop side after downsampling (eye ~2/3 of it)


def degrade(frames: np.ndarray, px: int) -> np.ndarray:
    """uint8 [N,T,3,S,S] -> the same crops seen at px x px (INTER_AREA down, bilinear back up)."""
    if not px:
        return frames
    n, t, _, s, _ = frames.shape
    flat = frames.reshape(n * t, 3, s, s).transpose(0, 2, 3, 1)
    out = np.stack([cv2.resize(cv2.resize(f, (px, px), interpolation=cv2.INTER_AREA), (s, s),
                               interpolation=cv2.INTER_LINEAR) for f in flat])
    return out.transpose(0, 3, 1, 2).reshape(frames.shape)


@torch.no_grad()
def raw_closure_logits(model, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Uncalibrated closure logits [N,T] (the model's calibration is bypassed)."""
    scale, bias = model.closure_scale.clone(), model.closure_bias.clone()
    model.closure_scale.fill_(1.0)
    model.closure_bias.fill_(0.0)
    try:
        out = [model(torch.from_numpy(np.ascontiguousarray(frames[i: i + batch_size])))["closure_logit"].float().numpy()
               for i in range(0, len(frames), batch_size)]
    finally:
        model.closure_scale.copy_(scale)
        model.closure_bias.copy_(bias)
    return np.concatenate(out)


def fit_platt(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(a > 0, b) minimising the weighted BCE of sigmoid(a z + b) against y (LBFGS on two numbers;
    a positive slope: calibration may move the threshold, never reverse the ranking)."""
    zt, yt, wt = (torch.as_tensor(v, dtype=torch.float64) for v in (z, y, w))
    params = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)  # (log a, b): a > 0 keeps the order
    opt = torch.optim.LBFGS([params], lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(params[0].exp() * zt + params[1], yt,
                                                                          reduction="none")).sum() / wt.sum()
        loss.backward()
        return loss

    opt.step(closure)
    log_a, b = (float(v) for v in params.detach())
    return float(np.exp(log_a)), b


def balanced_accuracy(y: np.ndarray, closed: np.ndarray) -> float:
    if y.all() or not y.any():
        return float("nan")
    return float((closed[y].mean() + (~closed[~y]).mean()) / 2)


def calibrate(model, frames: np.ndarray, closure: np.ndarray, resolutions=RESOLUTIONS) -> dict:
    """Fit the closure map on validation windows (uint8 [N,T,3,S,S], true closure [N,T]); sets the
    model's buffers and returns the report."""
    zs, ys, ws, rows = [], [], [], []
    known = np.isfinite(closure)
    y = closure[known] >= 0.5
    if y.all() or not y.any():
        raise ValueError("calibration needs open and closed validation frames (closure >= 0.5 and < 0.5)")
    for px in resolutions:
        z = raw_closure_logits(model, degrade(frames, px))[known]
        w = np.where(y, 0.5 / y.sum(), 0.5 / (~y).sum())  # each class half, each resolution the same
        zs.append(z), ys.append(y), ws.append(w)
        rows.append(dict(px=px or int(frames.shape[-1]), native=not px, frames=int(len(z)),
                         auroc=metrics.auroc(y.astype(int), z), balanced_accuracy_before=balanced_accuracy(y, z >= 0)))
    a, b = fit_platt(np.concatenate(zs), np.concatenate(ys), np.concatenate(ws))
    for row, z, yy in zip(rows, zs, ys):
        row["balanced_accuracy_after"] = balanced_accuracy(yy, a * z + b >= 0)
    model.closure_scale.fill_(a)
    model.closure_bias.fill_(b)
    return dict(scale=a, bias=b, threshold=0.5, label="closed = closure >= 0.5", per_resolution=rows,
                method="Platt map of the closure logit, classes and resolutions weighted equally")


def validation_windows(ckpt: dict, data: str | None, split: str | None):
    from trainer.data import EyeWindowDataset

    cfg = ckpt.get("config") or {}
    split_rec = (ckpt.get("split") or {}).get("val") or {}
    root = data or split_rec.get("root") or cfg.get("data")
    if not root:
        raise ValueError("no validation data: pass --data (the checkpoint records none)")
    split = split if split is not None else (split_rec.get("split") if data is None else "val")
    ds = EyeWindowDataset(root, window=int(ckpt["model_kwargs"].get("window", 13)),
                          crop_size=int(ckpt["model_kwargs"].get("crop_size", 48)), split=split or None, augment=None,
                          crop=_crop(ckpt), cache_dir=cfg.get("cache_dir"))
    frames = np.stack([ds.crops(i) for i in range(len(ds))])
    return frames, ds._closure.astype(np.float64), dict(root=str(root), split=split, windows=len(ds))


def _crop(ckpt):
    from trainer.checkpoint import checkpoint_crop_config
    return checkpoint_crop_config(ckpt)


@one_line_errors(ManifestError, OSError, ValueError)
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="calibrated model-only checkpoint to write")
    p.add_argument("--data", help="synthetic validation dataset (default: the checkpoint's)")
    p.add_argument("--split", help="split of --data to use (default: val)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--half", action="store_true", help="store float weights as float16 (half the file; loading "
                   "casts them back to float32, closure within 1e-2)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    from trainer.checkpoint import load_trained_model
    from trainer.outputs import torch_save

    model, ckpt = load_trained_model(a.checkpoint)
    frames, closure, source = validation_windows(ckpt, a.data, a.split)
    report = calibrate(model, frames, closure)
    report["data"] = source
    report["checkpoint"] = str(a.checkpoint)
    keep = {k: v for k, v in ckpt.items() if k not in ("optimizer", "scheduler", "rng")}
    keep["model"] = model.state_dict()
    if a.half:  # BatchNorm counters stay integers; calibration scalars stay float32
        keep["model"] = {k: v.half() if v.is_floating_point() and v.ndim > 0 else v for k, v in keep["model"].items()}
    keep["calibration"] = report
    torch_save(keep, Path(a.out))
    for r in report["per_resolution"]:
        print(f"{r['px']:>3} px: AUROC {r['auroc']:.3f}, balanced accuracy at closure 0.5 "
              f"{r['balanced_accuracy_before']:.3f} -> {r['balanced_accuracy_after']:.3f}")
    print(f"closure map a={report['scale']:.3f} b={report['bias']:.3f} fitted on {source}; wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
