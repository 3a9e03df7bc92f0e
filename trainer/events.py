"""Blink events from per-frame closure on real video: what is a blink and what is not.

`decode_blinks(closure_by_eye, times_s, cfg)`:
1. per eye, closure is taken relative to a local open baseline (a centred running median
   several blink-lengths long), as the fraction of the remaining aperture that closes, so a
   held narrowing (squint, smile, lowered gaze) raises the baseline instead of looking like a
   closure;
2. hysteresis on that relative closure (`high` starts, `low` ends an event), at least
   `min_frames` frames;
3. an event must reopen within `max_duration_s` (a held closure is not a blink) and must
   not touch a frame without a face (NaN closure): gaps are never events, and an event cut by
   a gap cannot be shown to have closed and reopened;
4. the two eyes' overlapping events are ONE event (`eyes` = "both"); an event of one eye only
   is kept with `eyes` = "left"/"right" (a wink or a one-sided squint), and is not a blink.

Thresholds come from the checkpoint (model closure) or from the literature (EAR), and the
duration limit from the synthetic generator's own blink definition (BlinkConfig), never from
real test videos. Frame intervals here are inclusive: (start, end) covers start..end.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from manifests.schema import EYES
from trainer import metrics

# hysteresis thresholds on closure: half closed starts a blink, a quarter ends it (the trainer's
# defaults; a checkpoint or trainer.calibrate_events may carry its own)
EVENT_HIGH, EVENT_LOW = 0.5, 0.25


def synthetic_max_blink_s() -> float:
    """Longest non-drowsy blink the generator renders: slowest closing + longest hold + slowest
    opening (generator.config.BlinkConfig). Real closures held longer are not spontaneous blinks."""
    from generator.config import BlinkConfig

    b = BlinkConfig()
    closing = b.closing_ms[1]
    return (closing + b.closed_ms[1] + closing * b.opening_ratio[1]) / 1000.0


@dataclass(frozen=True)
class EventConfig:
    high: float = EVENT_HIGH     # relative closure that makes an event (half closed)
    low: float = EVENT_LOW       # relative closure under which it ends
    min_frames: int = 1
    max_duration_s: float = 0.69  # see synthetic_max_blink_s(); stored explicitly so runs are reproducible
    baseline_blinks: float = 4.0  # open-baseline median window, in max blink durations

    def __post_init__(self):
        if not 0 <= self.low <= self.high:
            raise ValueError(f"events: need 0 <= low <= high, got low={self.low}, high={self.high}")
        if self.min_frames < 1 or self.max_duration_s <= 0 or self.baseline_blinks <= 0:
            raise ValueError(f"events: min_frames >= 1, max_duration_s > 0 and baseline_blinks > 0 needed: {self}")


@dataclass(frozen=True)
class BlinkEvent:
    eyes: str                     # "both", "left" or "right"
    start_frame: int              # inclusive
    end_frame: int                # inclusive
    peak_frame: int
    peak_closure: float           # relative to the local open baseline, max over the eyes
    per_eye: tuple                # ((eye, start, end), ...) of the eyes' own events


# Least remaining aperture a relative closure is divided by: from eyes held nearly shut, lid
# noise is not magnified into blinks.
MIN_REMAINING_APERTURE = 0.25


def relative_closure(closure: np.ndarray, fps: float, cfg: EventConfig) -> np.ndarray:
    """The fraction of the local open aperture that closes: (c - b) / (1 - b), b the centred
    running median of the closure c (NaN frames ignored; NaN stays NaN). A full blink from eyes
    narrowed by a smile reaches 1 like one from wide-open eyes; the narrowing itself, held
    longer than a blink, moves b and never does."""
    c = pd.Series(np.asarray(closure, float))
    win = max(3, int(round(cfg.baseline_blinks * cfg.max_duration_s * fps)) | 1)
    base = c.rolling(win, center=True, min_periods=1).median()
    return ((c - base) / np.maximum(1.0 - base, MIN_REMAINING_APERTURE)).to_numpy()


def _eye_events(rel: np.ndarray, times_s: np.ndarray, cfg: EventConfig) -> list[tuple[int, int]]:
    gap = np.isnan(rel)
    out = []
    for s, e in metrics.events_from_closure(np.where(gap, 0.0, rel), cfg.high, cfg.low, cfg.min_frames):
        if gap[max(s - 1, 0): e + 1].any():
            continue  # touches a frame without a face
        if times_s[e - 1] - times_s[s] > cfg.max_duration_s:
            continue  # held: not a blink
        out.append((s, e - 1))
    return out


def decode_blinks(closure_by_eye: dict[str, np.ndarray], times_s: np.ndarray, cfg: EventConfig,
                  fps: float) -> tuple[list[BlinkEvent], dict[str, np.ndarray]]:
    """Events (both eyes merged) and the relative closure per eye they were decoded from."""
    times_s = np.asarray(times_s, float)
    rel = {eye: relative_closure(closure_by_eye[eye], fps, cfg) for eye in EYES}
    per_eye = [(eye, s, e) for eye in EYES for s, e in _eye_events(rel[eye], times_s, cfg)]
    per_eye.sort(key=lambda x: (x[1], x[2]))
    groups: list[list[tuple[str, int, int]]] = []
    for ev in per_eye:  # overlapping intervals (any eye) form one event
        if groups and ev[1] <= max(g[2] for g in groups[-1]):
            groups[-1].append(ev)
        else:
            groups.append([ev])
    events = []
    for g in groups:
        s, e = min(x[1] for x in g), max(x[2] for x in g)
        eyes = {x[0] for x in g}
        both = np.nanmax(np.stack([rel[eye][s: e + 1] for eye in eyes]), axis=0)
        peak = s + int(np.nanargmax(both))
        events.append(BlinkEvent(eyes="both" if len(eyes) == 2 else next(iter(eyes)), start_frame=s,
                                 end_frame=e, peak_frame=peak, peak_closure=float(both[peak - s]),
                                 per_eye=tuple(g)))
    return events, rel


def events_table(events: list[BlinkEvent], times_s: np.ndarray) -> pd.DataFrame:
    rows = []
    for k, ev in enumerate(events):
        d = {eye: (s, e) for eye, s, e in ev.per_eye}
        rows.append(dict(event=k, eyes=ev.eyes, blink=int(ev.eyes == "both"), start_frame=ev.start_frame,
                         end_frame=ev.end_frame, peak_frame=ev.peak_frame, peak_closure=round(ev.peak_closure, 4),
                         start_s=round(float(times_s[ev.start_frame]), 4), end_s=round(float(times_s[ev.end_frame]), 4),
                         left_start=d.get("left", (pd.NA,) * 2)[0], left_end=d.get("left", (pd.NA,) * 2)[1],
                         right_start=d.get("right", (pd.NA,) * 2)[0], right_end=d.get("right", (pd.NA,) * 2)[1]))
    cols = ["event", "eyes", "blink", "start_frame", "end_frame", "peak_frame", "peak_closure", "start_s", "end_s",
            "left_start", "left_end", "right_start", "right_end"]
    return pd.DataFrame(rows, columns=cols)
