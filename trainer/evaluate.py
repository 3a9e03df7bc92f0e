"""Evaluate a checkpoint on a manifest dataset: `python -m trainer.evaluate`.

    python -m trainer.evaluate --checkpoint RUN/best.pt --data DIR [--split test] --report FILE.json

Writes FILE.json with
- clip level (one sample per eye window, as in the paper): F1, precision, recall, accuracy,
  AUROC, average precision at the blink-probability threshold;
- frame level: closure MAE (predicted sigmoid(closure_logit) vs labelled closure);
- event level: the per-frame closure of each clip and eye is stitched from its windows (mean over
  overlapping windows), blink events are found by hysteresis (trainer.metrics.events_from_closure)
  and matched to the true events (runs of `e_blink_id`, or hysteresis on the true closure where a
  dataset has no event ids) by temporal IoU >= 0.5 and by any overlap;
- the same per eye (left / right);
and beside it FILE_pr_curve.png and FILE_closure_scatter.png.

Also home of `load_trained_model` (reads what trainer.fit writes) and `collect_predictions`
(model outputs over an EyeWindowDataset), which fit uses for validation.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from manifests.schema import EYES as EYE_NAMES  # the dataset's eye index: 0 left, 1 right (docs/architecture.md)
from trainer import metrics
from trainer.outputs import save_figure, write_json

EVENT_HIGH, EVENT_LOW = 0.5, 0.25  # hysteresis thresholds on closure: half closed starts a blink


# --------------------------------------------------------------------------- checkpoints
class CheckpointError(ValueError):
    pass


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, not a torch file, ...
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    missing = [k for k in ("model", "model_name", "model_kwargs") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not a trainer.fit checkpoint (missing {', '.join(missing)})")
    return ckpt


def load_trained_model(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """(model in eval mode on `device`, checkpoint dict) from a trainer.fit checkpoint."""
    from trainer.models import create_model

    ckpt = load_checkpoint(path)
    model = create_model(ckpt["model_name"], **ckpt["model_kwargs"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit model {ckpt['model_name']!r}: {e}") from e
    return model.to(device).eval(), ckpt


def checkpoint_crop_config(ckpt: dict[str, Any]):
    """The CropConfig the model was trained with (crop size from the model when not recorded)."""
    from trainer.crops import CropConfig

    crop = dict(ckpt.get("crop") or {})
    crop.setdefault("size", int(ckpt["model_kwargs"].get("crop_size", 48)))
    known = set(CropConfig.__dataclass_fields__)
    return CropConfig(**{k: v for k, v in crop.items() if k in known})


# --------------------------------------------------------------------------- predictions
@torch.no_grad()
def collect_predictions(model: torch.nn.Module, dataset, device: str | torch.device = "cpu",
                        batch_size: int = 64, amp: torch.dtype | None = None,
                        num_workers: int = 0) -> dict[str, Any]:
    """Run `model` over every window of an EyeWindowDataset, in order.

    Returns numpy arrays blink_prob [N], blink [N], closure_pred [N,T], closure [N,T], eye [N],
    start [N], the list clip_id, and the mean losses loss_cls / loss_closure (as fit computes
    them, without pos_weight)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    out: dict[str, list] = defaultdict(list)
    bce_sum, se_sum, n_windows, n_frames, n_labelled = 0.0, 0.0, 0, 0, 0
    for batch in loader:
        frames = batch["frames"].to(device)
        ctx = torch.autocast(device.type, dtype=amp) if amp is not None else nullcontext()
        with ctx:
            o = model(frames)
        blink_logit = o["blink_logit"].float().cpu()
        closure_pred = torch.sigmoid(o["closure_logit"].float()).cpu()
        blink, closure = batch["blink"].float(), batch["closure"].float()
        labelled = ~torch.isnan(blink)
        bce_sum += float(F.binary_cross_entropy_with_logits(blink_logit[labelled], blink[labelled],
                                                            reduction="sum"))
        n_labelled += int(labelled.sum())
        known = ~torch.isnan(closure)
        se_sum += float(((closure_pred - closure)[known] ** 2).sum())
        n_windows += len(blink)
        n_frames += int(known.sum())
        out["blink_prob"].append(torch.sigmoid(blink_logit).numpy())
        out["blink"].append(blink.numpy())
        out["closure_pred"].append(closure_pred.numpy())
        out["closure"].append(closure.numpy())
        out["eye"].append(batch["eye"].numpy())
        out["start"].append(torch.as_tensor(batch["start"]).numpy())
        out["clip_id"].extend(list(batch["clip_id"]))
    model.train(was_training)
    if n_windows == 0:
        raise ValueError("no windows to evaluate (empty dataset or split)")
    preds = {k: (np.concatenate(v) if k != "clip_id" else v) for k, v in out.items()}
    preds["loss_cls"] = bce_sum / n_labelled if n_labelled else float("nan")
    preds["loss_closure"] = se_sum / n_frames if n_frames else float("nan")
    return preds


def window_metrics(preds: dict[str, Any], threshold: float = 0.5) -> dict[str, Any]:
    """Clip-level metrics and closure MAE, overall and per eye."""
    labelled = ~np.isnan(preds["blink"])  # windows whose blink label is unknown count for closure only

    def one(mask):
        return dict(clip=metrics.clip_metrics(preds["blink"][mask & labelled], preds["blink_prob"][mask & labelled],
                                          threshold),
                    closure_mae=metrics.closure_mae(preds["closure_pred"][mask], preds["closure"][mask]))

    everything = np.ones(len(preds["blink"]), dtype=bool)
    result = one(everything)
    result["per_eye"] = {name: one(preds["eye"] == i) for i, name in enumerate(EYE_NAMES)
                         if (preds["eye"] == i).any()}
    return result


def stitch_sequences(preds: dict[str, Any], n_frames: dict[str, int]) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Per (clip_id, eye): predicted closure per frame, the mean over all windows covering it
    (NaN where no window covers a frame); windows reaching past the clip end (padding) are cut."""
    sums: dict[tuple[str, int], np.ndarray] = {}
    counts: dict[tuple[str, int], np.ndarray] = {}
    window = preds["closure_pred"].shape[1]
    for i, clip_id in enumerate(preds["clip_id"]):
        key = (clip_id, int(preds["eye"][i]))
        n = n_frames[clip_id]
        if key not in sums:
            sums[key], counts[key] = np.zeros(n), np.zeros(n)
        s = int(preds["start"][i])
        e = min(s + window, n)
        if e > s:
            sums[key][s:e] += preds["closure_pred"][i, : e - s]
            counts[key][s:e] += 1
    return {k: {"closure_pred": np.where(counts[k] > 0, sums[k] / np.maximum(counts[k], 1), np.nan)}
            for k in sums}


def event_report(preds: dict[str, Any], frames: pd.DataFrame) -> dict[str, Any]:
    """Blink-event P/R/F1 on whole clips (stitched windows), overall and per eye."""
    frames = frames.sort_values(["clip_id", "frame"])
    n_frames = frames.groupby("clip_id").size().to_dict()
    stitched = stitch_sequences(preds, n_frames)
    by_clip = {cid: g for cid, g in frames.groupby("clip_id")}
    pairs: dict[str, list] = defaultdict(list)
    uncovered = 0
    for (clip_id, eye_index), seq in stitched.items():
        eye = EYE_NAMES[eye_index]
        g = by_clip[clip_id]
        pred = seq["closure_pred"]
        uncovered += int(np.isnan(pred).sum())
        ids_col = f"{eye}_blink_id"
        if ids_col in g and g[ids_col].notna().any():
            true_events = metrics.events_from_ids(pd.to_numeric(g[ids_col], errors="coerce").to_numpy())
        else:
            true_events = metrics.events_from_closure(
                pd.to_numeric(g[f"{eye}_closure"], errors="coerce").to_numpy(), EVENT_HIGH, EVENT_LOW)
        pred_events = metrics.events_from_closure(pred, EVENT_HIGH, EVENT_LOW)
        pairs["all"].append((pred_events, true_events))
        pairs[eye].append((pred_events, true_events))
    report = metrics.event_metrics(pairs["all"])
    report["per_eye"] = {eye: metrics.event_metrics(pairs[eye]) for eye in EYE_NAMES if pairs[eye]}
    report.update(high=EVENT_HIGH, low=EVENT_LOW, uncovered_frames=uncovered)
    return report


# ------------------------------------------------------------------------------- output

def plot_pr_curve(preds: dict[str, Any], threshold: float, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    labelled = ~np.isnan(preds["blink"])
    preds = {k: preds[k][labelled] for k in ("blink", "blink_prob", "eye")}
    y = preds["blink"].astype(int)
    if y.any():
        for i, name in enumerate(EYE_NAMES):
            m = preds["eye"] == i
            if m.any() and y[m].any():
                p, r, _ = metrics.pr_curve(y[m], preds["blink_prob"][m])
                ax.step(np.r_[0, r], np.r_[1, p], where="post", alpha=0.6, label=f"{name} eye")
        p, r, _ = metrics.pr_curve(y, preds["blink_prob"])
        ap = metrics.average_precision(y, preds["blink_prob"])
        ax.step(np.r_[0, r], np.r_[1, p], where="post", color="k", label=f"all (AP {ap:.3f})")
        c = metrics.clip_metrics(y, preds["blink_prob"], threshold)
        ax.plot([c["recall"]], [c["precision"]], "ro", label=f"threshold {threshold:g} (F1 {c['f1']:.3f})")
    else:
        ax.text(0.5, 0.5, "no positive windows", ha="center")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize=8)
    save_figure(fig, path)
    plt.close(fig)


def plot_closure_scatter(preds: dict[str, Any], path: Path, title: str, max_points: int = 20000) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = preds["closure"].ravel()
    pred = preds["closure_pred"].ravel()
    ok = ~np.isnan(true)
    true, pred = true[ok], pred[ok]
    if len(true) > max_points:  # a fixed subsample keeps the PNG readable and the plot fast
        idx = np.random.default_rng(0).choice(len(true), max_points, replace=False)
        true, pred = true[idx], pred[idx]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(true, pred, s=4, alpha=0.3)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    mae = float(np.abs(true - pred).mean()) if len(true) else float("nan")
    ax.set(xlabel="true closure", ylabel="predicted closure", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02),
           title=f"{title}\nMAE {mae:.3f} over {len(true)} frames")
    save_figure(fig, path)
    plt.close(fig)


# ---------------------------------------------------------------------------------- CLI
def evaluate(checkpoint: str, data: str, split: str | None, report: str, batch_size: int = 64,
             stride: int | None = None, threshold: float | None = None, device: str = "auto",
             num_workers: int = 0) -> dict[str, Any]:
    from trainer.data import EyeWindowDataset

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    model, ckpt = load_trained_model(checkpoint, dev)
    cfg = ckpt.get("config", {})
    threshold = cfg.get("threshold", 0.5) if threshold is None else threshold
    frames_path = Path(data) / "frames.csv"
    if not frames_path.is_file():
        raise FileNotFoundError(f"{frames_path}: frames.csv not found (is {data} a dataset directory?)")
    frames = pd.read_csv(frames_path, low_memory=False)
    if split is not None:
        if "split" not in frames or frames["split"].isna().all():
            raise ValueError(f"{frames_path}: --split {split} given but the manifest has no split column")
        if not (frames["split"] == split).any():
            raise ValueError(f"{frames_path}: no rows with split == {split!r} "
                             f"(present: {sorted(frames['split'].dropna().unique())})")
        frames = frames[frames["split"] == split]
    ds = EyeWindowDataset(data, window=int(ckpt["model_kwargs"].get("window", 13)), stride=stride,
                          crop_size=int(ckpt["model_kwargs"].get("crop_size", 48)),
                          eyes=tuple(cfg.get("eyes", ("left", "right"))), split=split, augment=None,
                          crop=checkpoint_crop_config(ckpt))
    preds = collect_predictions(model, ds, device=dev, batch_size=batch_size, num_workers=num_workers)
    result: dict[str, Any] = dict(
        checkpoint=str(checkpoint), data=str(data), split=split, model=ckpt["model_name"],
        checkpoint_epoch=ckpt.get("epoch"), selected_on=f"validation {cfg.get('select_on', 'f1')}",
        windows=len(preds["blink"]), window=int(preds["closure_pred"].shape[1]),
        clips=int(frames["clip_id"].nunique()), frames=int(len(frames)))
    result.update(window_metrics(preds, threshold))
    result["loss"] = dict(cls=preds["loss_cls"], closure=preds["loss_closure"])
    result["events"] = event_report(preds, frames)
    report_path = Path(report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    stem = report_path.with_suffix("")
    pr_path = Path(f"{stem}_pr_curve.png")
    scatter_path = Path(f"{stem}_closure_scatter.png")
    title = f"{ckpt['model_name']} on {Path(data).name}" + (f" [{split}]" if split else "")
    plot_pr_curve(preds, threshold, pr_path, title)
    plot_closure_scatter(preds, scatter_path, title)
    result["plots"] = dict(pr_curve=pr_path.name, closure_scatter=scatter_path.name)
    write_json(result, report_path)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="RUN/best.pt (or last.pt)")
    p.add_argument("--data", required=True, help="dataset directory (manifest contract v1)")
    p.add_argument("--split", default=None, help="evaluate only rows of this split (e.g. test)")
    p.add_argument("--report", required=True, help="report JSON path; PNG plots go beside it")
    p.add_argument("--stride", type=int, default=None, help="window stride in long clips (default: dataset's)")
    p.add_argument("--threshold", type=float, default=None, help="blink probability threshold (default: training's)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--num-workers", type=int, default=0)
    a = p.parse_args(argv)
    try:
        r = evaluate(a.checkpoint, a.data, a.split, a.report, a.batch_size, a.stride, a.threshold,
                     a.device, a.num_workers)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    c, ev = r["clip"], r["events"]
    print(f"{r['windows']} windows, {r['clips']} clips: F1 {c['f1']:.3f} P {c['precision']:.3f} "
          f"R {c['recall']:.3f} AUROC {c['auroc']:.3f} closure MAE {r['closure_mae']:.3f} "
          f"event F1 (IoU>=0.5) {ev['iou50']['f1']:.3f} (any overlap) {ev['any_overlap']['f1']:.3f}")
    print(f"report: {a.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
