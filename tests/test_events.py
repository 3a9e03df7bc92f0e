"""trainer.events: what counts as a blink on real video, on hand-made closure curves."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.events import EventConfig, decode_blinks, events_table, synthetic_max_blink_s

FPS = 30.0
CFG = EventConfig(max_duration_s=round(synthetic_max_blink_s(), 3))


def _curve(n=300, base=0.05):
    return np.full(n, base)


def _decode(left, right):
    times = np.arange(len(left)) / FPS
    events, _ = decode_blinks({"left": left, "right": right}, times, CFG, FPS)
    return events


def _blink(c, start, frames=4, depth=1.0):
    c = c.copy()
    c[start: start + frames] = depth
    return c


def test_both_eyes_blinking_together_are_one_event_with_each_eyes_interval():
    left, right = _blink(_curve(), 100), _blink(_curve(), 101)
    events = _decode(left, right)
    assert len(events) == 1
    ev = events[0]
    assert ev.eyes == "both" and (ev.start_frame, ev.end_frame) == (100, 104)
    assert dict((e, (s, t)) for e, s, t in ev.per_eye) == {"left": (100, 103), "right": (101, 104)}
    row = events_table(events, np.arange(300) / FPS).iloc[0]
    assert row["blink"] == 1 and row["left_end"] == 103 and row["right_start"] == 101


def test_one_eye_closing_is_an_event_but_not_a_blink():
    events = _decode(_blink(_curve(), 50), _curve())
    assert [(e.eyes, e.start_frame) for e in events] == [("left", 50)]
    assert events_table(events, np.arange(300) / FPS)["blink"].tolist() == [0]


def test_held_closure_longer_than_any_synthetic_blink_is_not_a_blink():
    held = int(np.ceil(1.2 * synthetic_max_blink_s() * FPS))
    assert _decode(_blink(_curve(), 100, held), _blink(_curve(), 100, held)) == []
    # one frame shorter than the limit still is
    ok = int(synthetic_max_blink_s() * FPS)
    assert len(_decode(_blink(_curve(), 100, ok), _blink(_curve(), 100, ok))) == 1


def test_squint_plateau_is_not_a_blink_but_a_blink_during_it_is():
    squint = _curve()
    squint[60:240] = 0.6  # a held narrowing for 6 s: the open baseline follows it
    assert _decode(squint, squint) == []
    both = _blink(squint, 150, 3, 1.0)
    events = _decode(both, both)
    assert len(events) == 1 and events[0].start_frame == 150 and events[0].eyes == "both"


def test_frames_without_a_face_are_gaps_never_events():
    left, right = _blink(_curve(), 100), _blink(_curve(), 100)
    left[102:110] = right[102:110] = np.nan  # the face is lost mid-blink: unknown if it reopened
    assert _decode(left, right) == []
    gap = _curve()
    gap[10:40] = np.nan
    assert _decode(gap, gap.copy()) == []


def test_event_settings_are_checked():
    with pytest.raises(ValueError, match="low"):
        EventConfig(high=0.2, low=0.3)
    with pytest.raises(ValueError, match="max_duration_s"):
        EventConfig(max_duration_s=0)
