"""Blink events and curves: physiology (docs/design.md), phases, labels, rate model."""
import numpy as np
import pytest

from generator.config import GeneratorConfig, load_config
from generator.sampling import blink as B

CFG = GeneratorConfig()
DT = 1e-4  # 0.1 ms: fine enough to measure velocities


def _events(n, seed=0, bcfg=None):
    rng = np.random.default_rng(seed)
    return [B.sample_event(rng, bcfg or CFG.blink, blink_id=0, peak_s=0.0) for _ in range(n)]


def _dense(ev):
    lo, hi = ev.span_s()
    return np.arange(lo - 0.02, hi + 0.02, DT)


def test_curves_continuous_bounded_and_zero_outside():
    for ev in _events(300, seed=1):
        t = _dense(ev)
        for eye in B.EYES:
            c = ev.curve(eye, t)
            assert c.min() >= 0.0 and c.max() <= 1.0
            assert c[0] == 0.0 and c[-1] == 0.0
            assert np.isclose(c.max(), ev.amplitude(eye), atol=1e-6)
            # continuity: no step bigger than the fastest possible slope allows
            vmax = np.pi / 2 * ev.amplitude(eye) / ev.closing_s
            assert np.abs(np.diff(c)).max() <= vmax * DT * 1.05 + 1e-12


def test_phase_order_within_each_event():
    order = {"open": 0, "closing": 1, "closed": 2, "opening": 3}
    for ev in _events(300, seed=2):
        t = _dense(ev)
        for eye in B.EYES:
            if ev.amplitude(eye) == 0:
                continue
            names, ids = B.eye_phase([ev], eye, t, CFG.blink.closed_band)
            seq = [names[0]]
            for n in names[1:]:
                if n != seq[-1]:
                    seq.append(n)
            assert seq == ["open", "closing", "closed", "opening", "open"], seq
            inside = np.array([n != "open" for n in names])
            assert (ids[inside] == 0).all() and (ids[~inside] == -1).all()


def test_closing_faster_than_opening_measured_from_curves():
    ratios = []
    for ev in _events(300, seed=3):
        if ev.wink:
            continue
        t = _dense(ev)
        c = ev.curve("left", t)
        v = np.gradient(c, DT)
        peak = ev.eye_peak_s("left")
        closing_dur = ev.closing_s
        opening_dur = ev.opening_s
        assert 1.4 - 1e-9 <= opening_dur / closing_dur <= 2.0 + 1e-9
        ratio = v[t < peak].max() / -v[t > peak].min()
        ratios.append(ratio)
        assert 1.38 <= ratio <= 1.49, ratio  # closing peak velocity 40-47% above opening (design.md: physiology)
    assert 1.40 <= np.median(ratios) <= 1.47


def test_durations_in_physiological_ranges():
    evs = _events(2000, seed=4)
    normal = [e for e in evs if not e.drowsy and not e.wink]
    closing = np.array([e.closing_s for e in normal])
    closed = np.array([e.closed_s for e in normal])
    assert 0.075 <= closing.min() and closing.max() <= 0.130 and abs(np.median(closing) - 0.1) < 0.01
    assert closed.min() >= 0.0 and closed.max() <= 0.300
    assert np.median(closed) < 0.1  # most spontaneous blinks barely pause
    drowsy = [e for e in evs if e.drowsy]
    assert drowsy and all(e.closing_s + e.closed_s + e.opening_s > 0.5 for e in drowsy)
    total = np.array([e.closing_s + e.closed_s + e.opening_s for e in normal])
    assert np.mean(total > 0.5) < 0.1  # over 500 ms is unusual for a spontaneous blink


def test_partial_and_wink_rates_measured_from_curves():
    cfg = load_config(None, {"blink.wink_probability": 0.05, "blink.partial_probability": 0.3})
    evs = _events(6000, seed=5, bcfg=cfg.blink)
    t_of = {id(e): _dense(e)[::20] for e in evs}
    peak = {eye: np.array([e.curve(eye, np.append(t_of[id(e)], e.eye_peak_s(eye))).max() for e in evs])
            for eye in B.EYES}
    wink = (peak["left"] == 0) ^ (peak["right"] == 0)
    partial = ~wink & (np.maximum(peak["left"], peak["right"]) < 0.95)
    assert abs(wink.mean() - 0.05) < 0.01
    # partial among non-winks
    assert abs(partial.sum() / (~wink).sum() - 0.3) < 0.025


def test_both_eyes_a_few_ms_apart():
    for ev in _events(500, seed=6):
        if ev.wink:
            continue
        lag = ev.start_s("right") - ev.start_s("left")
        assert abs(lag) <= 0.010 + 1e-12
    lags = [e.lag_right_s for e in _events(500, seed=6)]
    assert min(lags) < 0 < max(lags)  # either eye may lead


def test_clip_mode_balanced_labels_and_peak_on_frame():
    rng = np.random.default_rng(7)
    n, fps = 13, 30.0
    labels = []
    for _ in range(600):
        evs = B.sample_clip_events(rng, CFG.blink, n, fps)
        label = B.clip_blink_label(evs, n, fps)
        labels.append(label)
        frames = np.arange(n)
        # label == some event's peak rounds onto a frame of the clip (independent computation)
        inside = any(0 <= round(e.eye_peak_s(eye) * fps) < n for e in evs for eye in B.EYES if e.amplitude(eye) > 0)
        assert label == int(inside)
        if label:
            first = [e for e in evs if 0 <= round(e.peak_s * fps) < n][0]
            f = int(round(first.peak_s * fps))
            assert 3 <= f <= 9  # peak_position_range 0.25-0.75 of 13 frames
            c = B.frame_curve(evs, "left", frames, fps)
            names, ids = B.eye_phase(evs, "left", frames / fps, CFG.blink.closed_band)
            if first.amplitude("left") > 0:
                assert c[f] == pytest.approx(first.amplitude_left) and names[f] == "closed" and ids[f] == first.blink_id
        else:
            # a non-blink clip never shows a peak; edge events only show their cut part
            for e in evs:
                assert B.cut_event([e], n, fps) == 1
    assert abs(np.mean(labels) - 0.5) < 0.06


def test_label_follows_config_probability():
    rng = np.random.default_rng(8)
    for p, want in ((1.0, 1), (0.0, 0)):
        cfg = load_config(None, {"blink.clip_blink_probability": p})
        assert {B.clip_blink_label(B.sample_clip_events(rng, cfg.blink, 13, 30.0), 13, 30.0)
                for _ in range(100)} == {want}


def test_cut_event():
    ev = B.BlinkEvent(0, peak_s=0.2, closing_s=0.1, closed_s=0.0, opening_s=0.15, opening_warp=1.0,
                      amplitude_left=1.0, amplitude_right=1.0, lag_right_s=0.0)
    assert B.cut_event([ev], 13, 30.0) == 0  # 0.1 .. 0.35 inside 0 .. 0.4
    ev.peak_s = 0.3
    assert B.cut_event([ev], 13, 30.0) == 1  # ends at 0.45 > last frame 0.4
    ev.peak_s = 0.05
    assert B.cut_event([ev], 13, 30.0) == 1  # starts at -0.05
    ev.peak_s = 5.0
    assert B.cut_event([ev], 13, 30.0) == 0 and B.clip_blink_label([ev], 13, 30.0) == 0


def test_subsamples_integrate_over_shutter():
    ev = B.BlinkEvent(0, peak_s=0.0, closing_s=0.1, closed_s=0.0, opening_s=0.15, opening_warp=1.0,
                      amplitude_left=1.0, amplitude_right=1.0, lag_right_s=0.0)
    sharp = B.frame_curve([ev], "left", [0], 30.0, 1)
    blurred = B.frame_curve([ev], "left", [0], 30.0, 5, shutter=0.5)
    assert sharp[0] == 1.0 and 0.8 < blurred[0] < 1.0  # the peak is averaged with its neighbourhood


def test_rate_model_long_video():
    bcfg = CFG.blink
    rng = np.random.default_rng(9)
    duration = 1800.0  # 30 minutes
    evs = B.sample_rate_events(rng, bcfg, duration, rate_per_min=17.0)
    assert [e.blink_id for e in evs] == list(range(len(evs)))
    rate = len(evs) / duration * 60
    assert 14.0 < rate < 20.0, rate
    # events never overlap and are separated by at least min_gap
    for a, b in zip(evs, evs[1:]):
        assert b.span_s()[0] - a.span_s()[1] >= bcfg.min_gap_ms / 1000 - 1e-9
    ibi = np.diff([e.peak_s for e in evs])
    assert 0.6 < ibi.std() / ibi.mean() < 1.0  # irregular, roughly gamma with CV 0.8
    assert evs[-1].span_s()[0] < duration


def test_subject_rates_log_normal():
    rng = np.random.default_rng(10)
    rates = np.array([B.subject_blink_rate(rng, CFG.blink) for _ in range(4000)])
    assert abs(np.median(rates) - 17.0) < 1.0
    assert abs(np.log(rates).std() - CFG.blink.rate_log_sigma) < 0.03
