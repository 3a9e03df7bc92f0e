"""Hypothesis properties of sample_clip over seeds, clip indices and clip shapes."""
import csv
import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.config import load_config
from generator.sampling import ClipSpec, sample_clip

ORDER = {"open": 0, "closing": 1, "closed": 2, "opening": 3}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), index=st.integers(0, 10 ** 7), n_frames=st.integers(1, 40),
       fps=st.sampled_from([5.0, 24.0, 29.97, 60.0, 240.0]), mode=st.sampled_from(["clip", "video"]),
       subsamples=st.integers(1, 4))
def test_any_clip_round_trips_and_is_consistent(seed, index, n_frames, fps, mode, subsamples):
    cfg = load_config(None, {"seed": seed, "clip.n_frames": n_frames, "clip.fps": fps, "clip.mode": mode,
                             "clip.subsamples": subsamples})
    spec = sample_clip(cfg, index)
    assert sample_clip(cfg, index) == spec
    buf = io.StringIO()
    row = spec.to_row()
    w = csv.DictWriter(buf, fieldnames=list(row))
    w.writeheader()
    w.writerow(row)
    buf.seek(0)
    assert ClipSpec.from_row(next(csv.DictReader(buf))) == spec
    peaks_inside = False
    for eye in ("left", "right"):
        c = spec.blink_curve(eye)
        assert np.all((c >= 0) & (c <= 1))
        states = [spec.frame_state(t) for t in range(n_frames)]
        last = {}
        for fs in states:
            bid, ph = fs.blink_id[eye], fs.phase[eye]
            assert (bid == -1) == (ph == "open")
            if bid >= 0:  # within one event the phase never goes back
                assert ORDER[ph] >= last.get(bid, 0)
                last[bid] = ORDER[ph]
        for ev in spec.blink_events:
            if ev.amplitude(eye) > 0 and 0 <= np.floor(ev.eye_peak_s(eye) * fps + 0.5) < n_frames:
                peaks_inside = True
    assert spec.clip_blink_label() == int(peaks_inside)
