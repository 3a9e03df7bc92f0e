"""Blink events and the lid-closure curves they make (pure numpy; docs/design.md: physiology).

One event = closing (about 100 ms), a closed hold (0-300 ms), opening (1.4-2x longer than the
closing). Curves are C1-smooth: closing is a raised cosine; opening is a raised cosine on a
time warp g(x) = 1 - (1-x)^p, which starts fast and ends with a slow tail, as real lids do. The
warp p is solved per event so that the closing's peak velocity is 40-47% above the opening's
even when the opening is twice as long (with one shape for both, the velocity ratio would equal
the duration ratio). Amplitude < 1 is an incomplete blink; both eyes share an event, the second
eye a few ms late; a wink has one eye at amplitude 0.

Time is clip time in seconds: frame t is at t / fps. The peak of an event is the centre of its
closed hold; a clip's blink label is 1 when a peak (either eye) rounds to a frame of the clip.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from manifests.schema import EYES

from .draw import uniform as _uniform
_K_CLOSING = np.pi / 2  # peak velocity of the raised cosine, in amplitude / duration


def _opening_peak_velocity(p: float) -> float:
    x = np.linspace(0.0, 1.0, 4001)
    g = 1.0 - (1.0 - x) ** p
    v = 0.5 * np.pi * np.sin(np.pi * g) * p * (1.0 - x) ** (p - 1.0)
    return float(v.max())


# peak velocity (amplitude / duration) of the warped opening as a function of p: monotone in p
_WARP_P = np.linspace(1.0, 6.0, 201)
_WARP_K = np.array([_opening_peak_velocity(p) for p in _WARP_P])


def opening_warp_for(duration_ratio: float, velocity_ratio: float) -> float:
    """The warp p that makes (closing peak velocity) / (opening peak velocity) == velocity_ratio
    for an opening ``duration_ratio`` times longer than the closing (p >= 1: when the durations
    alone already give a ratio below the target, the plain raised cosine is used)."""
    k_needed = _K_CLOSING * duration_ratio / velocity_ratio
    return float(np.interp(k_needed, _WARP_K, _WARP_P, left=1.0, right=_WARP_P[-1]))


@dataclass
class BlinkEvent:
    blink_id: int  # index within the clip, shared by both eyes
    peak_s: float  # centre of the closed hold for the left eye, clip time (s)
    closing_s: float
    closed_s: float  # hold at the peak
    opening_s: float
    opening_warp: float  # p of the opening's time warp (sets the opening peak velocity)
    amplitude_left: float  # peak eyeBlinkLeft weight; 0 = this eye does not blink (wink of the other)
    amplitude_right: float
    lag_right_s: float  # right eye's timing minus the left eye's (either sign: either eye may lead)
    partial: bool = False
    wink: bool = False
    drowsy: bool = False

    # -- timing per eye
    def amplitude(self, eye: str) -> float:
        return self.amplitude_left if eye == "left" else self.amplitude_right

    def eye_peak_s(self, eye: str) -> float:
        return self.peak_s + (self.lag_right_s if eye == "right" else 0.0)

    def phase_times_s(self, eye: str) -> Tuple[float, float, float, float]:
        """Closing start, hold start, hold end and opening end of this eye (s)."""
        peak = self.eye_peak_s(eye)
        h0, h1 = peak - 0.5 * self.closed_s, peak + 0.5 * self.closed_s
        return h0 - self.closing_s, h0, h1, h1 + self.opening_s

    def start_s(self, eye: str) -> float:
        return self.phase_times_s(eye)[0]

    def end_s(self, eye: str) -> float:
        return self.phase_times_s(eye)[3]

    def span_s(self) -> Tuple[float, float]:
        """Start and end over the eyes that take part."""
        eyes = [e for e in EYES if self.amplitude(e) > 0] or list(EYES)
        return min(self.start_s(e) for e in eyes), max(self.end_s(e) for e in eyes)

    # -- curves
    def curve(self, eye: str, t) -> np.ndarray:
        """eyeBlink weight of this event at times ``t`` (s): 0 outside, up to the amplitude."""
        t = np.asarray(t, dtype=float)
        a = self.amplitude(eye)
        out = np.zeros_like(t)
        if a <= 0:
            return out
        c0, h0, h1, o1 = self.phase_times_s(eye)
        closing = (t > c0) & (t < h0)
        x = (t[closing] - c0) / self.closing_s
        out[closing] = a * 0.5 * (1.0 - np.cos(np.pi * x))
        out[(t >= h0) & (t <= h1)] = a
        opening = (t > h1) & (t < o1)
        x = (t[opening] - h1) / self.opening_s
        g = 1.0 - (1.0 - x) ** self.opening_warp
        out[opening] = a * (1.0 - 0.5 * (1.0 - np.cos(np.pi * g)))
        return out

    def phase_code(self, eye: str, t, closed_band: float) -> np.ndarray:
        """0 open, 1 closing, 2 closed, 3 opening at times ``t``. 'closed' is the hold plus the
        instants where the curve is within ``closed_band`` of its peak, so the phase agrees with
        the curve a frame actually samples."""
        t = np.asarray(t, dtype=float)
        code = np.zeros(t.shape, dtype=np.int64)
        a = self.amplitude(eye)
        if a <= 0:
            return code
        c0, h0, h1, o1 = self.phase_times_s(eye)
        eps = 1e-9  # a peak placed on a frame time must count as 'closed' despite rounding
        code[(t > c0) & (t < h0)] = 1
        code[(t > h1) & (t < o1)] = 3
        near_peak = (code > 0) & (self.curve(eye, t) >= a * (1.0 - closed_band))
        code[near_peak] = 2
        code[(t >= h0 - eps) & (t <= h1 + eps)] = 2
        return code


PHASE_NAMES = ("open", "closing", "closed", "opening")


# ---------------------------------------------------------------------------- per-eye curves

def eye_curve(events: List[BlinkEvent], eye: str, t) -> np.ndarray:
    """Summed eyeBlink weight of all events for ``eye`` at times ``t`` (events never overlap), in [0, 1]."""
    t = np.asarray(t, dtype=float)
    out = np.zeros_like(t)
    for ev in events:
        out += ev.curve(eye, t)
    return np.clip(out, 0.0, 1.0)


def frame_curve(events: List[BlinkEvent], eye: str, frames, fps: float, subsamples: int = 1,
                shutter: float = 0.5) -> np.ndarray:
    """eyeBlink weight at frame indices ``frames``: the curve at the frame time, or with
    ``subsamples`` > 1 its mean over ``shutter`` of the frame interval centred there (temporal
    integration, like a camera's exposure)."""
    t = np.asarray(frames, dtype=float) / float(fps)
    if subsamples <= 1 or shutter <= 0:
        return eye_curve(events, eye, t)
    offsets = (np.linspace(-0.5, 0.5, subsamples) * shutter / float(fps))
    return eye_curve(events, eye, t[:, None] + offsets[None, :]).mean(axis=1)


def eye_phase(events: List[BlinkEvent], eye: str, t, closed_band: float) -> Tuple[List[str], np.ndarray]:
    """(phase names, blink ids) for ``eye`` at times ``t``; blink id is -1 outside events."""
    t = np.asarray(t, dtype=float)
    code = np.zeros(t.shape, dtype=np.int64)
    ids = np.full(t.shape, -1, dtype=np.int64)
    for ev in events:
        c = ev.phase_code(eye, t, closed_band)
        inside = c > 0
        code[inside] = c[inside]
        ids[inside] = ev.blink_id
    return [PHASE_NAMES[c] for c in code.ravel()], ids


def peak_frame(ev: BlinkEvent, eye: str, fps: float) -> int:
    """The frame nearest to the event's peak for ``eye``."""
    return int(np.floor(ev.eye_peak_s(eye) * fps + 0.5))


def clip_blink_label(events: List[BlinkEvent], n_frames: int, fps: float) -> int:
    """1 when the peak of an event (either eye that blinks) falls on a frame of the clip."""
    for ev in events:
        for eye in EYES:
            if ev.amplitude(eye) > 0 and 0 <= peak_frame(ev, eye, fps) < n_frames:
                return 1
    return 0


def cut_event(events: List[BlinkEvent], n_frames: int, fps: float) -> int:
    """1 when an event is cut by the clip's first or last frame (part of it inside, part outside)."""
    first, last = 0.0, (n_frames - 1) / float(fps)
    for ev in events:
        start, end = ev.span_s()
        if (start < first < end) or (start < last < end):
            return 1
    return 0


# ---------------------------------------------------------------------------- sampling

def _truncated_exponential(rng: np.random.Generator, mean: float, lo: float, hi: float) -> float:
    """Exponential with ``mean`` (before truncation) restricted to [lo, hi], by inverse CDF."""
    if hi <= lo:
        return lo
    span = 1.0 - np.exp(-(hi - lo) / mean)
    return float(lo - mean * np.log(1.0 - rng.random() * span))


def sample_event(rng: np.random.Generator, bcfg, blink_id: int = 0, peak_s: float = 0.0,
                 drowsy: Optional[bool] = None) -> BlinkEvent:
    """One blink's shape and timing around ``peak_s`` (left eye), drawn from ``bcfg`` (BlinkConfig)."""
    lo, hi = bcfg.closing_ms
    # triangular, peaked mid-range: "about 100 ms", the range ends are rare
    closing = (float(rng.triangular(lo, 0.5 * (lo + hi), hi)) if hi > lo else lo) / 1000.0
    closed = _truncated_exponential(rng, bcfg.closed_ms_mean, *bcfg.closed_ms) / 1000.0
    duration_ratio = _uniform(rng, bcfg.opening_ratio)
    opening = closing * duration_ratio
    warp = opening_warp_for(duration_ratio, _uniform(rng, bcfg.velocity_ratio))
    if drowsy is None:
        drowsy = bool(rng.random() < bcfg.drowsy_probability)
    if drowsy:  # slow closing, long closure and a slower reopening; same velocity ratio
        scale = _uniform(rng, bcfg.drowsy_duration_scale)
        closing, opening = closing * scale, opening * scale
        closed = closed * scale + _uniform(rng, (100.0, 400.0)) / 1000.0
    wink = bool(rng.random() < bcfg.wink_probability)
    partial = (not wink) and bool(rng.random() < bcfg.partial_probability)
    amplitude = _uniform(rng, bcfg.partial_amplitude) if partial else 1.0
    jitter = float(rng.normal(0.0, bcfg.eye_amplitude_jitter)) if partial else 0.0
    amp_left = amplitude
    amp_right = float(np.clip(amplitude * (1.0 + jitter), 0.05, 1.0))
    lag = _uniform(rng, bcfg.eye_lag_ms) / 1000.0 * (1.0 if rng.random() < 0.5 else -1.0)
    if wink:  # voluntary: held a little longer, one eye only
        closed += _uniform(rng, (50.0, 250.0)) / 1000.0
        lag = 0.0
        if rng.random() < 0.5:
            amp_right = 0.0
        else:
            amp_left = 0.0
    return BlinkEvent(blink_id=blink_id, peak_s=float(peak_s), closing_s=closing, closed_s=closed,
                      opening_s=opening, opening_warp=warp, amplitude_left=amp_left, amplitude_right=amp_right,
                      lag_right_s=lag, partial=partial, wink=wink, drowsy=bool(drowsy))


def _before(ev: BlinkEvent) -> float:
    """Seconds from the event's start (earliest eye) to its left-eye peak."""
    return ev.peak_s - ev.span_s()[0]


def _after(ev: BlinkEvent) -> float:
    return ev.span_s()[1] - ev.peak_s


def _renumber(events: List[BlinkEvent]) -> List[BlinkEvent]:
    events = sorted(events, key=lambda e: e.peak_s)
    for i, ev in enumerate(events):
        ev.blink_id = i
    return events


def sample_clip_events(rng: np.random.Generator, bcfg, n_frames: int, fps: float) -> List[BlinkEvent]:
    """Clip mode: with probability clip_blink_probability a blink peaks on a sampled frame inside
    the clip (sometimes followed or preceded by a second one); otherwise no peak is inside, and
    with edge_event_probability the clip holds the cut tail or head of a blink peaking outside."""
    events: List[BlinkEvent] = []
    gap = bcfg.min_gap_ms / 1000.0
    if rng.random() < bcfg.clip_blink_probability:
        lo = int(np.ceil(bcfg.peak_position_range[0] * (n_frames - 1) - 1e-9))
        hi = int(np.floor(bcfg.peak_position_range[1] * (n_frames - 1) + 1e-9))
        frame = int(rng.integers(lo, max(lo, hi) + 1))
        peak = (frame + bcfg.peak_jitter_frames * rng.uniform(-1.0, 1.0)) / fps
        first = sample_event(rng, bcfg, peak_s=peak)
        events.append(first)
        if rng.random() < bcfg.multi_blink_probability:
            second = sample_event(rng, bcfg)
            spacing = gap + _uniform(rng, (0.0, 0.3))  # double blinks follow within a few hundred ms
            if rng.random() < 0.5:
                second.peak_s = peak + _after(first) + spacing + _before(second)
            else:
                second.peak_s = peak - _before(first) - spacing - _after(second)
            events.append(second)
    elif rng.random() < bcfg.edge_event_probability:
        ev = sample_event(rng, bcfg)
        half_frame = 0.5 / fps
        last = (n_frames - 1) / fps
        margin = 1e-3 + abs(ev.lag_right_s)  # both eyes' peaks must round to frames outside the clip
        if rng.random() < 0.5:  # peak before frame 0: the opening is seen at the start
            lo, hi = -_after(ev) + 1e-3, -half_frame - margin
        else:  # peak after the last frame: the closing is seen at the end
            lo, hi = last + half_frame + margin, last + _before(ev) - 1e-3
        ev.peak_s = float(rng.uniform(lo, hi)) if hi > lo else (hi if hi < 0 else lo)
        events.append(ev)
    return _renumber(events)


def subject_blink_rate(rng: np.random.Generator, bcfg) -> float:
    """A person's resting blink rate (per minute): log-normal across people around rate_per_min."""
    return float(bcfg.rate_per_min * np.exp(rng.normal(0.0, bcfg.rate_log_sigma)))


def sample_interval(rng: np.random.Generator, bcfg, rate_per_min: float) -> float:
    """One inter-blink interval (s), gamma or log-normal with mean 60/rate and CV interval_cv."""
    mean = 60.0 / rate_per_min
    cv = bcfg.interval_cv
    if bcfg.interval_distribution == "gamma":
        shape = 1.0 / cv ** 2
        return float(rng.gamma(shape, mean / shape))
    sigma = np.sqrt(np.log(1.0 + cv ** 2))
    return float(rng.lognormal(np.log(mean) - 0.5 * sigma ** 2, sigma))


def sample_rate_events(rng: np.random.Generator, bcfg, duration_s: float, rate_per_min,
                       ) -> List[BlinkEvent]:
    """Video mode: a renewal process of blinks over [0, duration_s]. ``rate_per_min`` is a number
    or a function of time (s) -> rate (conversation raises it, reading lowers it); each interval
    is drawn at the rate in force when it starts. The process starts one random interval before
    t=0 so that the clip may open mid-blink (stationary start)."""
    rate_at = rate_per_min if callable(rate_per_min) else (lambda t: rate_per_min)
    gap = bcfg.min_gap_ms / 1000.0
    events: List[BlinkEvent] = []
    ev = sample_event(rng, bcfg)
    # first peak: a uniformly random point of an interval before 0 (approximately stationary)
    ev.peak_s = -rng.uniform(0.0, 1.0) * sample_interval(rng, bcfg, rate_at(0.0))
    while True:
        if ev.span_s()[1] > 0.0:
            events.append(ev)
        nxt = sample_event(rng, bcfg)
        interval = max(sample_interval(rng, bcfg, rate_at(ev.peak_s)), _after(ev) + gap + _before(nxt))
        nxt.peak_s = ev.peak_s + interval
        if nxt.span_s()[0] >= duration_s:
            break
        ev = nxt
    return _renumber(events)
