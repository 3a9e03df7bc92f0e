"""What a dataset holds: counts, blink ratio, closure histogram, events and phases per eye."""
from __future__ import annotations

import numpy as np
import pandas as pd

from manifests import schema

CLOSURE_BINS = 10  # tenths of closure: enough to see open / partial / closed mass at a glance


def _int_dict(s: pd.Series) -> dict:
    return {str(k): int(v) for k, v in s.items()}


def stats(frames: pd.DataFrame, clips: pd.DataFrame = None) -> dict:
    """Summary of a dataset as plain JSON-able values."""
    per_clip = frames.groupby("clip_id", sort=False)
    out = {
        "clips": int(frames["clip_id"].nunique()),
        "frames": int(len(frames)),
        "subjects": int(frames["subject_id"].dropna().nunique()) if "subject_id" in frames else 0,
    }
    if "blink" in frames:
        clip_blink = per_clip["blink"].first().dropna()
        out["clips_with_known_blink"] = int(len(clip_blink))
        out["blink_clips"] = int((clip_blink == 1).sum())
        out["blink_ratio"] = float((clip_blink == 1).mean()) if len(clip_blink) else None
    if clips is not None and "cut_event" in clips:
        out["cut_event_clips"] = int((clips["cut_event"] == 1).sum())
        out["cut_event_unknown"] = int(clips["cut_event"].isna().sum())
    if "split" in frames:
        out["clips_per_split"] = _int_dict(per_clip["split"].first().value_counts(dropna=False)
                                           .rename(index=lambda k: "unknown" if pd.isna(k) else k))
    edges = np.linspace(0, 1, CLOSURE_BINS + 1)
    out["closure_bin_edges"] = [round(float(e), 3) for e in edges]
    out["eyes"] = {}
    for eye in schema.EYES:
        e = {}
        c = frames.get(f"{eye}_closure")
        if c is not None:
            known = c.dropna().to_numpy(dtype=float)
            e["frames_with_closure"] = int(len(known))
            e["closure_histogram"] = np.histogram(np.clip(known, 0, 1), bins=edges)[0].tolist()
            e["closure_mean"] = float(known.mean()) if len(known) else None
        bid = frames.get(f"{eye}_blink_id")
        if bid is not None:
            ev = frames.loc[bid.fillna(-1) >= 0, ["clip_id", f"{eye}_blink_id"]].drop_duplicates()
            e["blink_events"] = int(len(ev))
        ph = frames.get(f"{eye}_phase")
        if ph is not None:
            counts = ph.value_counts()
            e["phases"] = {p: int(counts.get(p, 0)) for p in schema.PHASES}
            e["phases"]["unknown"] = int(ph.isna().sum())
        vis = frames.get(f"{eye}_visible")
        if vis is not None:
            e["frames_not_visible"] = int((vis == 0).sum())
        out["eyes"][eye] = e
    return out


def format_stats(s: dict) -> str:
    """Readable text of stats()."""
    lines = [f"clips {s['clips']}   frames {s['frames']}   subjects {s['subjects']}"]
    if s.get("blink_ratio") is not None:
        lines.append(f"blink clips {s['blink_clips']} of {s['clips_with_known_blink']} with a label "
                     f"(ratio {s['blink_ratio']:.3f})")
    elif "blink_ratio" in s:
        lines.append("blink: unknown for every clip")
    if "cut_event_clips" in s:
        lines.append(f"clips cutting a blink event: {s['cut_event_clips']}"
                     + (f" ({s['cut_event_unknown']} unknown)" if s.get("cut_event_unknown") else ""))
    if "clips_per_split" in s:
        lines.append("clips per split: " + ", ".join(f"{k} {v}" for k, v in s["clips_per_split"].items()))
    edges = s["closure_bin_edges"]
    for eye, e in s["eyes"].items():
        head = f"{eye} eye:"
        if "blink_events" in e:
            head += f" {e['blink_events']} blink events"
        if "frames_not_visible" in e:
            head += f", {e['frames_not_visible']} frames not visible"
        lines.append(head)
        if "phases" in e:
            lines.append("  phases: " + ", ".join(f"{k} {v}" for k, v in e["phases"].items()))
        if e.get("frames_with_closure"):
            hist = e["closure_histogram"]
            top = max(hist) or 1
            lines.append(f"  closure (mean {e['closure_mean']:.3f}, {e['frames_with_closure']} frames):")
            for lo, hi, n in zip(edges[:-1], edges[1:], hist):
                lines.append(f"    [{lo:.1f}, {hi:.1f}{']' if hi == 1 else ')'} {n:8d} {'#' * round(30 * n / top)}")
        elif "frames_with_closure" in e:
            lines.append("  closure: unknown")
    return "\n".join(lines)


def dataset_stats(root) -> dict:
    from manifests.io import Dataset

    ds = Dataset.load(root)
    return stats(ds.frames, ds.clips)
