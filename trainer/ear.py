"""The classic baseline: eye aspect ratio (EAR) blinks, after Soukupova & Cech (2016).

EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|) from six lid points per eye (trainer.landmarks.EAR_IDS);
it falls towards 0 as the lids close. Soukupova & Cech threshold it at a fixed 0.2; a fixed
value fails on narrow eyes and on faces seen from an angle, so here the threshold adapts per
video: EAR becomes a closure-like score `1 - EAR / open EAR`, where the open EAR is a high
percentile of the video's own EAR (what this person's eyes look like open), and the same event
decoder as the model (trainer.events) finds blinks with EAR_EVENTS: the paper's 0.2 on a
typical open EAR of 0.3 is a drop of one third; events need the paper's minimum run of 2 frames.
These constants come from the paper, not from any video we measure on.
"""
from __future__ import annotations

import numpy as np

from trainer.events import EventConfig, synthetic_max_blink_s
from trainer.landmarks import eye_aspect_ratio

OPEN_PERCENTILE = 90  # the open EAR: most frames are open, blinks are < 10% of them
EAR_EVENTS = EventConfig(high=1 / 3, low=1 / 6, min_frames=2, max_duration_s=round(synthetic_max_blink_s(), 3))


def ear_closure(points: np.ndarray, eye: str) -> tuple[np.ndarray, np.ndarray]:
    """(closure score in [0, 1], raw EAR) per frame from landmark points [N, K, 2]; NaN without a face."""
    ear = eye_aspect_ratio(points, eye)
    ok = np.isfinite(ear)
    if not ok.any():
        return np.full(len(ear), np.nan), ear
    open_ear = float(np.percentile(ear[ok], OPEN_PERCENTILE))
    closure = np.clip(1.0 - ear / max(open_ear, 1e-6), 0.0, 1.0)
    return closure, ear
