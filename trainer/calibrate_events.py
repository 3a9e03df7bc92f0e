"""Blink-event thresholds for a checkpoint, chosen on SYNTHETIC validation data: `python -m trainer.calibrate_events`.

    python -m trainer.calibrate_events --checkpoint RUN/best.pt --data SYNTH_DIR [--split val] --out RUN/events.json
    python -m trainer.predict --checkpoint RUN/best.pt VIDEO --events RUN/events.json --out DIR
    python -m trainer.evaluate_video ... --checkpoint RUN/best.pt --events RUN/events.json

The model's per-frame closure is stitched over each validation clip (as trainer.evaluate does),
and the hysteresis threshold `high` (with `low` = high / 2) that maximises event F1 (any
overlap, one to one, against the clips' labelled blink events) over a fixed grid is kept; ties
go to the value nearest 0.5 (the trainer's default). The decoder on video applies it to the
closure relative to the local open baseline, which on synthetic clips (neutral open = closure 0)
is the closure itself. Real videos are never read here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from manifests.cli_errors import one_line_errors
from manifests.io import ManifestError
from trainer import metrics
from trainer.outputs import write_json

GRID = tuple(round(x, 2) for x in np.arange(0.2, 0.81, 0.05))


def choose_threshold(sequences: list[tuple[np.ndarray, list]]) -> dict:
    """sequences: (predicted closure per frame, true events half-open) per clip and eye."""
    scores = []
    for high in GRID:
        pairs = [(metrics.events_from_closure(pred, high, high / 2), true) for pred, true in sequences]
        f1 = metrics.event_metrics(pairs)["any_overlap"]["f1"]
        scores.append((f1, -abs(high - 0.5), high))
    f1, _, high = max(scores)
    return dict(high=float(high), low=round(float(high) / 2, 4), f1=float(f1),
                grid={str(h): round(s[0], 4) for h, s in zip(GRID, scores)})


def calibrate(checkpoint: str, data: str, split: str = "val", batch_size: int = 64) -> dict:
    from trainer.data import EyeWindowDataset
    from trainer.checkpoint import checkpoint_crop_config, load_trained_model
    from trainer.evaluate import stitch_sequences
    from trainer.inference import EYE_NAMES, collect_predictions
    from manifests.io import read_frames

    model, ckpt = load_trained_model(checkpoint)
    frames = read_frames(Path(data) / "frames.csv")
    if "split" not in frames.columns or not (frames["split"] == split).any():
        raise ValueError(f"{data}: no frames with split == {split!r} (run `python -m manifests split` or trainer.fit first)")
    frames = frames[frames["split"] == split]
    ds = EyeWindowDataset(data, window=int(model.window), crop_size=int(model.crop_size), split=split,
                          augment=None, crop=checkpoint_crop_config(ckpt))
    preds = collect_predictions(model, ds, batch_size=batch_size)
    stitched = stitch_sequences(preds, frames.sort_values(["clip_id", "frame"]).groupby("clip_id").size().to_dict())
    by_clip = {cid: g.sort_values("frame") for cid, g in frames.groupby("clip_id")}
    sequences = []
    for (clip_id, eye_index), seq in stitched.items():
        eye = EYE_NAMES[eye_index]
        ids = pd.to_numeric(by_clip[clip_id][f"{eye}_blink_id"], errors="coerce").to_numpy()
        if np.isnan(ids).all():
            continue  # no event labels in this clip
        sequences.append((np.nan_to_num(seq["closure_pred"], nan=0.0), metrics.events_from_ids(ids)))
    if not sequences:
        raise ValueError(f"{data}: split {split!r} has no blink_id labels to calibrate on")
    out = choose_threshold(sequences)
    out.update(checkpoint=str(checkpoint), data=str(data), split=split, sequences=len(sequences))
    return out


def load_events_json(path: str) -> tuple[float, float]:
    """(high, low) from a calibrate_events JSON; ValueError naming the file when it is not one."""
    try:
        d = json.loads(Path(path).read_text())
        high, low = float(d["high"]), float(d["low"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not an events JSON with 'high' and 'low' ({e})") from None
    if not 0 <= low <= high <= 1:
        raise ValueError(f"{path}: need 0 <= low <= high <= 1, got {low}, {high}")
    return high, low


@one_line_errors(ManifestError, OSError, ValueError)
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="a synthetic dataset with a split column")
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    result = calibrate(a.checkpoint, a.data, a.split)
    write_json(result, a.out)
    print(f"event threshold high {result['high']} low {result['low']} (event F1 {result['f1']:.3f} on "
          f"{result['sequences']} {a.split} sequences); {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
