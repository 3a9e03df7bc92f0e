"""Sim-to-real transfer of checkpoints, measured on the real dev sets: one command, one table.

    python bench/transfer.py RUN/last.pt [RUN2/calibrated.pt ...] --real ../shared/realdata \
        --out transfer.md [--json transfer.json] [--no-video] [--threads 1]

Eye-state crops: every folder REAL/eye-state-*/ (images under Open/ and Closed/ folders, found
recursively) is scored as trainer.evaluate_eye_state does (each crop a still sequence, fit
"square"): closure AUROC, and balanced accuracy at the checkpoint's closure threshold. That
threshold comes from synthetic validation data only: a checkpoint calibrated by
trainer.calibrate holds it ("calibration"); any other checkpoint uses 0.5, fixed in advance
(the table says which). Nothing here chooses a threshold or a checkpoint on real data.

Videos: when trainer.evaluate_video (the real-video work) is importable, every labelled video
of REAL/videos-dev is scored with the model and with the eye-aspect-ratio baseline on the same
landmarks (blink-event precision / recall / F1 over all videos); otherwise the table says the
video part was skipped and why. Real data is measurement only: never train or tune on it.
Writes a markdown table (--out) and, with --json, every number.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def eye_state_sets(real: Path) -> list[Path]:
    return sorted(p for p in real.glob("eye-state-*") if p.is_dir())


def checkpoint_threshold(ckpt: dict) -> tuple[float, str]:
    cal = ckpt.get("calibration")
    if isinstance(cal, dict) and "threshold" in cal:
        return float(cal["threshold"]), "synthetic val (calibrated)"
    return 0.5, "0.5 fixed (uncalibrated)"


def score_eye_state(checkpoint: str, root: Path, threshold: float, batch_size: int = 64) -> dict:
    from trainer.evaluate_eye_state import eye_state_report
    from trainer.predict import predict_images

    scores = predict_images(checkpoint, str(root), None, "square", batch_size, "cpu")
    r = eye_state_report(scores, threshold)
    return {k: r[k] for k in ("images", "auroc_closure", "balanced_accuracy", "recall_closed", "recall_open",
                              "mean_closure_closed", "mean_closure_open")}


def score_videos(checkpoint: str, videos: Path, out: Path) -> dict:
    """Blink events on the dev videos, model and EAR baseline; {"skipped": why} when unavailable."""
    import trainer.predict
    try:
        from trainer import evaluate_video as ev
    except ImportError as e:
        return {"skipped": f"trainer.evaluate_video is not available ({e})"}
    if Path(ev.__file__).resolve().parent != Path(trainer.predict.__file__).resolve().parent:
        # an editable install elsewhere can lend the submodule: never mix two checkouts' code
        return {"skipped": f"trainer.evaluate_video comes from another checkout ({ev.__file__})"}
    if not (videos / "blinks.csv").is_file():
        return {"skipped": f"{videos}/blinks.csv not found"}
    try:
        ex = videos / "exclusions.csv"
        labels = ev.read_labels(videos / "blinks.csv", ex if ex.is_file() else None)
        report = ev.evaluate_videos(videos, labels, ["model", "ear"], out, checkpoint)  # every video, labelled or not
    except (AttributeError, TypeError, ImportError) as e:  # the interface changed: say so, do not guess
        return {"skipped": f"trainer.evaluate_video interface differs ({type(e).__name__}: {e})"}
    rows = report[report["video"] == "ALL"].set_index("method")
    res = {m: {k: float(rows.loc[m, k]) for k in ("precision", "recall", "f1", "frame_auroc")} for m in rows.index}
    per_video = report[report["video"] != "ALL"]
    res["videos_below_ear"] = sorted(
        v for v, g in per_video.groupby("video")
        if set(g["method"]) >= {"model", "ear"}
        and float(g.set_index("method").loc["model", "f1"]) < float(g.set_index("method").loc["ear", "f1"]))
    return res


def markdown(results: list[dict]) -> str:
    sets = sorted({s for r in results for s in r["eye_state"]})
    head = ["checkpoint", "threshold"] + [f"{s} AUROC | {s} bal. acc." for s in sets] + [
        "videos P / R / F1", "EAR P / R / F1"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * (2 + 2 * len(sets) + 2)]
    for r in results:
        cells = [f"`{r['checkpoint']}`", f"{r['threshold']:.3f} ({r['threshold_source']})"]
        for s in sets:
            e = r["eye_state"].get(s)
            cells.append(f"{e['auroc_closure']:.3f} | {e['balanced_accuracy']:.3f}" if e else "- | -")
        v = r["videos"]
        if "skipped" in v:
            cells += [f"skipped: {v['skipped']}", "-"]
        else:
            cells += [" / ".join(f"{v['model'][k]:.2f}" for k in ("precision", "recall", "f1")),
                      " / ".join(f"{v['ear'][k]:.2f}" for k in ("precision", "recall", "f1")) if "ear" in v else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--real", default="../shared/realdata", help="real dev data (measurement only)")
    p.add_argument("--out", required=True, help="markdown table to write")
    p.add_argument("--json", help="every number, as JSON")
    p.add_argument("--no-video", action="store_true", help="crops only (the videos take minutes per checkpoint)")
    p.add_argument("--video-out", default=None, help="where the video evaluation writes (default: beside --out)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    real = Path(a.real)
    from trainer.checkpoint import load_checkpoint
    from trainer.outputs import write_text

    try:
        if not real.is_dir():
            raise ValueError(f"{real}: real data folder not found")
        sets = eye_state_sets(real)
        results = []
        for ck in a.checkpoints:
            t0 = time.time()
            thr, source = checkpoint_threshold(load_checkpoint(ck))
            r = dict(checkpoint=ck, threshold=thr, threshold_source=source,
                     eye_state={s.name: score_eye_state(ck, s, thr) for s in sets})
            if a.no_video:
                r["videos"] = {"skipped": "--no-video"}
            else:
                vout = Path(a.video_out or Path(a.out).with_suffix("")) / Path(ck).parent.name / Path(ck).stem
                r["videos"] = score_videos(ck, real / "videos-dev", vout)
            r["seconds"] = round(time.time() - t0, 1)
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = markdown(results)
    write_text(Path(a.out), table)
    if a.json:
        write_text(Path(a.json), json.dumps(results, indent=1) + "\n")
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
