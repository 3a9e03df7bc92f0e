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

Checkpoints are read by trainer.checkpoint, model outputs collected by trainer.inference (which
fit's validation uses too); this module is the command and its event-level report and plots.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from manifests.io import ManifestError, read_frames
from manifests.cli_errors import one_line_errors
from trainer import metrics
from trainer.checkpoint import CheckpointError, checkpoint_crop_config, load_trained_model
from trainer.events import EVENT_HIGH, EVENT_LOW
from trainer.inference import EYE_NAMES, collect_predictions, window_metrics
from trainer.outputs import save_figure, write_json



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
            true_events = metrics.events_from_ids(g[ids_col].to_numpy(np.float64, na_value=np.nan))
        else:
            true_events = metrics.events_from_closure(
                g[f"{eye}_closure"].to_numpy(np.float64, na_value=np.nan), EVENT_HIGH, EVENT_LOW)
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
    frames = read_frames(frames_path)  # schema dtypes; a bad cell is named by file:line
    if split is not None:
        if "split" not in frames or frames["split"].isna().all():
            raise ValueError(f"{frames_path}: --split {split} given but the manifest has no split column")
        in_split = frames["split"].eq(split).fillna(False).to_numpy(bool)
        if not in_split.any():
            raise ValueError(f"{frames_path}: no rows with split == {split!r} "
                             f"(present: {sorted(frames['split'].dropna().unique())})")
        frames = frames[in_split]
    ds = EyeWindowDataset(data, window=int(ckpt["model_kwargs"].get("window", 13)), stride=stride,
                          crop_size=int(ckpt["model_kwargs"].get("crop_size", 48)),
                          eyes=tuple(cfg.get("eyes", EYE_NAMES)), split=split, augment=None,
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


@one_line_errors(ManifestError, CheckpointError, OSError, ValueError)  # OSError: FrameReadError too
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
    r = evaluate(a.checkpoint, a.data, a.split, a.report, a.batch_size, a.stride, a.threshold,
                 a.device, a.num_workers)
    c, ev = r["clip"], r["events"]
    print(f"{r['windows']} windows, {r['clips']} clips: F1 {c['f1']:.3f} P {c['precision']:.3f} "
          f"R {c['recall']:.3f} AUROC {c['auroc']:.3f} closure MAE {r['closure_mae']:.3f} "
          f"event F1 (IoU>=0.5) {ev['iou50']['f1']:.3f} (any overlap) {ev['any_overlap']['f1']:.3f}")
    print(f"report: {a.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
