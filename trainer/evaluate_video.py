"""Score blink detection on labelled real videos: `python -m trainer.evaluate_video`.

    python -m trainer.evaluate_video --videos DIR [--labels DIR/blinks.csv] [--exclusions DIR/exclusions.csv]
        (--checkpoint RUN/best.pt | --method ear | --checkpoint RUN/best.pt --method model --method ear) --out OUT

Every video of DIR (a video the labels do not name has no blinks; --labelled-only skips those) runs through trainer.predict's pipeline once per method, on ONE landmark track
(FaceMesh runs once per video, whichever methods are compared).

Labels (the dev set's convention, `video,start,end[,notes]`; more columns are ignored): 0-based
frame indices in OpenCV decode order, `start..end` inclusive. Rows whose notes begin with
`DOUBTFUL:` and the frame ranges of the exclusions file are don't-care: a detection there is
neither a true nor a false positive, and their frames are left out of the AUROC.

Scores:
- events: a detected blink (trainer.events: both eyes) matches a label when their frame
  intervals overlap, one-to-one (greedy by temporal IoU); unmatched detections are false
  positives unless they touch a don't-care range; unmatched labels are misses. P, R, F1 per
  video and over all videos (summed counts);
- frames: AUROC of the per-frame closure (mean of both eyes) against "inside a labelled blink";
  frames without a face are left out and counted;
- a timeline plot per video (OUT/plots/VIDEO.png): closure per eye, labelled blinks,
  don't-care ranges and detections of each method.
Writes OUT/report.csv (one row per video and method, plus `ALL`), OUT/report.json, and each
method's per-video predictions under OUT/<method>/<video>/ (closure.csv, events.csv).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from manifests.cli_errors import one_line_errors
from trainer import metrics
from trainer.outputs import atomic_path, write_csv, write_json

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
DOUBTFUL_PREFIX = "DOUBTFUL:"


@dataclass(frozen=True)
class VideoLabels:
    blinks: tuple       # ((start, end), ...) inclusive, scored
    dont_care: tuple    # ((start, end), ...) inclusive: DOUBTFUL labels and exclusions


def _read_ranges(path: Path, what: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"video": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read {what} CSV ({e})") from None
    missing = [c for c in ("video", "start", "end") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: {what} CSV lacks column(s) {missing}")
    for c in ("start", "end"):
        v = pd.to_numeric(df[c], errors="coerce")
        bad = v.isna() | (v < 0) | (v != v.round())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"{path}: row {i + 2}: {c} must be a frame number >= 0, got {df[c].iat[i]!r}")
        df[c] = v.astype(int)
    bad = df["end"] < df["start"]
    if bad.any():
        raise ValueError(f"{path}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 2}: end < start")
    return df


def read_labels(labels: Path, exclusions: Path | None) -> dict[str, VideoLabels]:
    df = _read_ranges(labels, "labels")
    notes = df["notes"].fillna("").astype(str) if "notes" in df.columns else pd.Series("", index=df.index)
    doubtful = notes.str.strip().str.startswith(DOUBTFUL_PREFIX)
    ex = _read_ranges(exclusions, "exclusions") if exclusions is not None else df.iloc[:0]
    out = {}
    for video in sorted(set(df["video"]) | set(ex["video"])):
        g, d = df[df["video"] == video], doubtful[df["video"] == video]
        e = ex[ex["video"] == video]
        out[video] = VideoLabels(
            blinks=tuple(zip(g.loc[~d, "start"], g.loc[~d, "end"])),
            dont_care=tuple(zip(g.loc[d, "start"], g.loc[d, "end"])) + tuple(zip(e["start"], e["end"])))
    return out


def video_names(videos_dir: Path, labels: dict[str, VideoLabels], labelled_only: bool = False) -> list[str]:
    """The videos to score: those the labels name and, unless `labelled_only`, every other video of
    the folder (one without labels has no blinks, so its detections count as false positives)."""
    names = set(labels)
    if not labelled_only:
        names |= {q.name for q in videos_dir.iterdir() if q.suffix.lower() in VIDEO_EXTENSIONS}
    return sorted(names)


def _overlaps(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def score_events(detected, labels: VideoLabels) -> dict:
    """One-to-one matching by any overlap; detections touching a don't-care range are ignored."""
    half_open = lambda ev: [(int(s), int(e) + 1) for s, e in ev]  # noqa: E731 (metrics uses half-open)
    pred, true = half_open(detected), half_open(labels.blinks)
    pairs = sorted(((metrics.temporal_iou(p, t), i, j) for i, p in enumerate(pred) for j, t in enumerate(true)
                    if metrics.temporal_iou(p, t) > 0), reverse=True)
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    fp = [detected[i] for i in range(len(pred)) if i not in used_p
          and not any(_overlaps(detected[i], z) for z in labels.dont_care)]
    tp, fn = len(used_p), len(true) - len(used_t)
    p, r, f1 = metrics.precision_recall_f1(tp, len(fp), fn)
    return dict(tp=tp, fp=len(fp), fn=fn, precision=p, recall=r, f1=f1,
                fp_events=[list(map(int, x)) for x in fp],
                missed=[list(map(int, labels.blinks[j])) for j in range(len(true)) if j not in used_t])


def frame_truth(n: int, labels: VideoLabels) -> tuple[np.ndarray, np.ndarray]:
    """(inside a scored blink, don't care) per frame."""
    pos, skip = np.zeros(n, bool), np.zeros(n, bool)
    for s, e in labels.blinks:
        pos[s: e + 1] = True
    for s, e in labels.dont_care:
        skip[s: e + 1] = True
    return pos, skip


def plot_timeline(video: str, results: dict, labels: VideoLabels, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(results)
    fig, axes = plt.subplots(len(methods), 1, figsize=(12, 2.2 * len(methods) + 0.4), sharex=True, squeeze=False)
    for ax, method in zip(axes[:, 0], methods):
        table, events = results[method].table, results[method].events
        for s, e in labels.dont_care:
            ax.axvspan(s - 0.5, e + 0.5, color="0.85", lw=0)
        for s, e in labels.blinks:
            ax.axvspan(s - 0.5, e + 0.5, color="tab:green", alpha=0.3, lw=0)
        ax.plot(table["frame"], table["left_closure"], lw=0.9, color="tab:blue", label="left eye closure")
        ax.plot(table["frame"], table["right_closure"], lw=0.9, color="tab:orange", label="right eye closure")
        nf = table["detected"].to_numpy() == 0
        if nf.any():
            ax.plot(table["frame"][nf], np.full(nf.sum(), -0.08), "k|", ms=4, label="no face")
        for ev in events.itertuples():
            colour = "tab:red" if ev.blink else "tab:purple"
            ax.plot([ev.start_frame - 0.5, ev.end_frame + 0.5], [1.06, 1.06], color=colour, lw=4, solid_capstyle="butt")
        ax.set_ylim(-0.15, 1.15)
        ax.set_ylabel(method)
        ax.set_title(f"{video} [{method}]: green = labelled blink, grey = don't care, red bar = detected blink, "
                     f"purple = one-eye event", fontsize=8, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def evaluate_videos(videos_dir: Path, labels: dict[str, VideoLabels], methods: list[str], out: Path,
                    checkpoint: str | None = None, stride: int = 1, device: str = "cpu",
                    progress: bool = False, names: list[str] | None = None,
                    model_thresholds: tuple[float, float] | None = None) -> pd.DataFrame:
    from dataclasses import replace

    from trainer.ear import EAR_EVENTS
    from trainer.checkpoint import checkpoint_crop_config, load_trained_model
    from trainer.predict import analyse_track, model_event_config, track_video
    from trainer.video import VideoReadError

    names = names if names is not None else video_names(videos_dir, labels)
    model = ckpt = crop_cfg = None
    if "model" in methods:
        model, ckpt = load_trained_model(checkpoint, device)
        crop_cfg = replace(checkpoint_crop_config(ckpt), center="corners")
    rows, per_video = [], {}
    totals = {m: dict(tp=0, fp=0, fn=0, scores=[], truth=[]) for m in methods}
    for name in names:
        path = videos_dir / name
        lab = labels.get(name, VideoLabels((), ()))
        try:
            track = track_video(str(path), crop_cfg, progress=progress)
        except VideoReadError as e:  # unreadable, or no face anywhere: its blinks are all missed
            print(f"warning: {e}; its {len(lab.blinks)} labelled blink(s) count as missed", file=sys.stderr)
            for m in methods:
                totals[m]["fn"] += len(lab.blinks)
                p_, r_, f_ = metrics.precision_recall_f1(0, 0, len(lab.blinks))
                rows.append(dict(video=name, method=m, frames=0, no_face_frames=0, faces_seen=0,
                                 labelled=len(lab.blinks), dont_care=len(lab.dont_care), detected=0,
                                 one_eye_events=0, tp=0, fp=0, fn=len(lab.blinks), precision=p_, recall=r_,
                                 f1=f_, frame_auroc=float("nan")))
            continue
        results = {}
        for m in methods:
            cfg = model_event_config(ckpt, *(model_thresholds or (None, None))) if m == "model" else EAR_EVENTS
            res = analyse_track(track, m, model, stride, 64, device, cfg, str(path), checkpoint or "")
            results[m] = res
            write_csv(res.table, out / m / Path(name).stem / "closure.csv")
            write_csv(res.events, out / m / Path(name).stem / "events.csv")
            blinks = [(int(r.start_frame), int(r.end_frame)) for r in res.events.itertuples() if r.blink]
            ev = score_events(blinks, lab)
            n = len(res.table)
            pos, skip = frame_truth(n, lab)
            score = res.table[["left_closure", "right_closure"]].mean(axis=1).to_numpy()
            keep = ~skip & np.isfinite(score)
            auc = metrics.auroc(pos[keep], score[keep]) if keep.any() else float("nan")
            for k in ("tp", "fp", "fn"):
                totals[m][k] += ev[k]
            totals[m]["scores"].append(score[keep])
            totals[m]["truth"].append(pos[keep])
            rows.append(dict(video=name, method=m, frames=n, no_face_frames=int((res.table["detected"] == 0).sum()),
                             faces_seen=res.summary["faces_seen"], labelled=len(lab.blinks),
                             dont_care=len(lab.dont_care), detected=len(blinks),
                             one_eye_events=res.summary["one_eye_events"], tp=ev["tp"], fp=ev["fp"], fn=ev["fn"],
                             precision=ev["precision"], recall=ev["recall"], f1=ev["f1"], frame_auroc=auc))
            per_video.setdefault(name, {})[m] = dict(fp_events=ev["fp_events"], missed=ev["missed"])
        plot_timeline(name, results, lab, out / "plots" / f"{Path(name).stem}.png")
    for m in methods:
        t = totals[m]
        p, r, f1 = metrics.precision_recall_f1(t["tp"], t["fp"], t["fn"])
        y = np.concatenate(t["truth"]) if t["truth"] else np.zeros(0, bool)
        s = np.concatenate(t["scores"]) if t["scores"] else np.zeros(0)
        sub = [x for x in rows if x["method"] == m]
        rows.append(dict(video="ALL", method=m, frames=sum(x["frames"] for x in sub),
                         no_face_frames=sum(x["no_face_frames"] for x in sub), faces_seen=max([x["faces_seen"] for x in sub], default=0),
                         labelled=sum(x["labelled"] for x in sub), dont_care=sum(x["dont_care"] for x in sub),
                         detected=sum(x["detected"] for x in sub), one_eye_events=sum(x["one_eye_events"] for x in sub),
                         tp=t["tp"], fp=t["fp"], fn=t["fn"], precision=p, recall=r, f1=f1,
                         frame_auroc=metrics.auroc(y, s) if len(y) else float("nan")))
    report = pd.DataFrame(rows)
    write_csv(report.round(4), out / "report.csv")
    write_json(dict(checkpoint=checkpoint, methods=methods, videos=names, rows=report.to_dict("records"),
                    errors=per_video), out / "report.json")
    return report


def markdown_table(report: pd.DataFrame) -> str:
    """Per video and overall: TP/FP/FN, P/R/F1 (- where undefined: no labels and no detections)
    and the frame AUROC, one column group per method."""
    methods = list(dict.fromkeys(report["method"]))
    order = [v for v in dict.fromkeys(report["video"]) if v != "ALL"] + ["ALL"]
    fmt = lambda x, d: "-" if pd.isna(x) else f"{x:.{d}f}"  # noqa: E731
    head = "| video | labelled | " + " | ".join(f"{m} TP/FP/FN | {m} P / R / F1 | {m} AUROC" for m in methods) + " |"
    lines = [head, "|" + "---|" * (2 + 3 * len(methods))]
    for v in order:
        rows = report[report["video"] == v].set_index("method")
        cells = []
        for m in methods:
            r = rows.loc[m]
            defined = r["tp"] + r["fp"] + r["fn"] > 0
            prf = " / ".join(fmt(r[k], 2) if defined else "-" for k in ("precision", "recall", "f1"))
            cells.append(f"{int(r['tp'])}/{int(r['fp'])}/{int(r['fn'])} | {prf} | {fmt(r['frame_auroc'], 3)}")
        name = "**ALL**" if v == "ALL" else v
        lines.append(f"| {name} | {int(rows['labelled'].iloc[0])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@one_line_errors(OSError, ValueError)
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", required=True, help="folder of videos")
    p.add_argument("--labels", help="blink labels CSV (default: VIDEOS/blinks.csv)")
    p.add_argument("--exclusions", help="don't-care ranges CSV (default: VIDEOS/exclusions.csv when present)")
    p.add_argument("--checkpoint", help="trained model (for --method model)")
    p.add_argument("--method", action="append", choices=["model", "ear"],
                   help="repeatable; default: model with --checkpoint, else ear")
    p.add_argument("--events", help="the model's event thresholds JSON (trainer.calibrate_events, synthetic val data)")
    p.add_argument("--labelled-only", action="store_true", help="only the videos the labels name (default: every "
                   "video of the folder; one without labels has no blinks)")
    p.add_argument("--out", required=True)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    methods = a.method or (["model"] if a.checkpoint else ["ear"])
    if "model" in methods and not a.checkpoint:
        p.error("--method model needs --checkpoint")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    videos = Path(a.videos)
    if not videos.is_dir():
        raise ValueError(f"{videos}: not a folder of videos")
    labels_path = Path(a.labels) if a.labels else videos / "blinks.csv"
    if not labels_path.is_file():
        raise ValueError(f"{labels_path}: labels CSV not found")
    ex = Path(a.exclusions) if a.exclusions else (videos / "exclusions.csv")
    if a.exclusions and not ex.is_file():
        raise ValueError(f"{ex}: exclusions CSV not found")
    labels = read_labels(labels_path, ex if ex.is_file() else None)
    names = video_names(videos, labels, a.labelled_only)
    missing = [n for n in names if not (videos / n).is_file()]
    if missing:
        raise ValueError(f"{labels_path}: video(s) {missing[:3]} not found in {videos}")
    thresholds = None
    if a.events:
        from trainer.calibrate_events import load_events_json
        thresholds = load_events_json(a.events)
    report = evaluate_videos(videos, labels, methods, Path(a.out), a.checkpoint, a.stride, a.device,
                             a.progress, names, thresholds)
    print(markdown_table(report))
    print(f"report: {Path(a.out) / 'report.csv'}, plots: {Path(a.out) / 'plots'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
