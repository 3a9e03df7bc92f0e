"""Head pose, gaze, camera shake and the non-blink expressions (hard negatives), pure numpy.

Everything is sampled once per clip as a small frozen dataclass of parameters (HeadMotion,
GazeMotion, Expressions, CameraShake; their JSON form is ``jsonable.to_json``) and evaluated at
any time t (s) by a pure function, so a frame's state depends on (spec, t) only.

- head: Catmull-Rom splines through random-walk knots (yaw/pitch/roll), start inside the
  configured range, drifting at drift_deg_per_s (SynBlink: start within +-2 deg, end within +-10).
- gaze: fixations (gamma durations) joined by saccades whose duration follows the main sequence
  (about 21 + 2.2 ms per degree). The gaze angles are the whole eye direction: the face model
  turns them into the eyeLook* lid weights (its own calibration), so the lids follow the eye and
  frame states leave eyeLook* at 0 (setting both would turn the eye twice).
- hard negatives, no blink involved, labelled truthfully by the geometry: squint (eyeSquint*),
  wide eyes (eyeWide*), looking down (extra downward gaze pitch; the face model lowers the lids
  with eyeLookDown* as the eye turns: a narrower aperture without a blink),
  talking (jawOpen / mouth units at a syllable rate of 4-5 Hz).
"""
import bisect
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .draw import uniform as _uniform


@dataclass(frozen=True)
class HeadMotion:
    """Head yaw/pitch/roll (degrees): Catmull-Rom knots every knot_interval_s from -knot_interval_s."""
    knot_interval_s: float
    yaw: Tuple[float, ...]
    pitch: Tuple[float, ...]
    roll: Tuple[float, ...]


@dataclass(frozen=True)
class GazeMotion:
    fixations: Tuple[Tuple[float, float, float], ...]  # (start_s, yaw_deg, pitch_deg), by start


@dataclass(frozen=True)
class BothEyesExpression:
    """Squint or wide eyes: an envelope and each eye's amplitude (its face unit's weight)."""
    ramp_s: float
    episodes: Tuple[Tuple[float, float], ...]  # (onset_s, offset_s)
    amplitude_left: float
    amplitude_right: float


@dataclass(frozen=True)
class LookDown:
    ramp_s: float
    episodes: Tuple[Tuple[float, float], ...]
    pitch_deg: float  # extra downward gaze at full envelope


@dataclass(frozen=True)
class Talking:
    ramp_s: float
    episodes: Tuple[Tuple[float, float], ...]
    syllable_hz: float
    phase: float  # of the syllable cycle at t = 0, in cycles
    jaw: Tuple[float, ...]  # jawOpen per syllable, cycled
    funnel: Tuple[float, ...]  # mouthFunnel per syllable, cycled


@dataclass(frozen=True)
class Expressions:
    """The hard negatives of a clip; None: not in this clip. They may co-occur."""
    squint: Optional[BothEyesExpression]
    wide: Optional[BothEyesExpression]
    look_down: Optional[LookDown]
    talking: Optional[Talking]

    def names(self) -> Tuple[str, ...]:
        return tuple(k for k in ("squint", "wide", "look_down", "talking") if getattr(self, k) is not None)


@dataclass(frozen=True)
class CameraShake:
    """Two sinusoids per axis; amplitude_m 0: a steady camera."""
    amplitude_m: float
    hz: Tuple[float, float]
    phases: Tuple[Tuple[float, float], Tuple[float, float], Tuple[float, float]]  # per axis x, y, z (rad)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# ---------------------------------------------------------------------------- head

def _reflect(v: float, lo: float, hi: float) -> float:
    """Fold v back into [lo, hi] (a random walk that bounces off the range limits)."""
    if hi <= lo:
        return lo
    span = hi - lo
    x = (v - lo) % (2 * span)
    return lo + (x if x <= span else 2 * span - x)


def sample_head(rng: np.random.Generator, hcfg, duration_s: float) -> HeadMotion:
    """Knots every knot_interval_s from -dt to duration+2dt (Catmull-Rom needs one knot either side)."""
    dt = float(hcfg.knot_interval_s)
    n = int(np.ceil(duration_s / dt)) + 4
    out = {}
    for axis, rng_deg, speed in zip(("yaw", "pitch", "roll"), (hcfg.yaw_deg, hcfg.pitch_deg, hcfg.roll_deg),
                                    hcfg.drift_deg_per_s):
        lo, hi = float(rng_deg[0]), float(rng_deg[1])
        v = _uniform(rng, (lo, hi))
        knots = [v]
        for _ in range(n - 1):
            v = _reflect(v + float(rng.normal(0.0, speed * dt)), lo, hi)
            knots.append(v)
        out[axis] = tuple(knots)
    return HeadMotion(knot_interval_s=dt, **out)


def _catmull_rom(knots, dt: float, t: float) -> float:
    """Value at time t of the spline through knots placed at -dt, 0, dt, 2dt, ..."""
    u = t / dt + 1.0  # knot index coordinate
    i = int(min(max(np.floor(u), 1), len(knots) - 3))
    s = u - i
    p0, p1, p2, p3 = (float(v) for v in knots[i - 1:i + 3])
    return float(0.5 * ((2 * p1) + (-p0 + p2) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s ** 2
                        + (-p0 + 3 * p1 - 3 * p2 + p3) * s ** 3))


def head_pose(head: HeadMotion, t: float) -> Tuple[float, float, float]:
    dt = head.knot_interval_s
    return tuple(_catmull_rom(knots, dt, t) for knots in (head.yaw, head.pitch, head.roll))


# ---------------------------------------------------------------------------- gaze

def sample_gaze(rng: np.random.Generator, gcfg, duration_s: float) -> GazeMotion:
    """Fixations [start_s, yaw, pitch] from before 0 to past the end; saccade durations follow
    the main sequence, so the eye is in flight for tens of ms between fixations."""
    fixations = []
    t = -rng.uniform(0.0, 1.0) * gcfg.fixation_ms / 1000.0 * 2.0
    shape = 2.0  # gamma shape: fixations rarely shorter than ~100 ms
    while True:
        if rng.random() < gcfg.camera_fixation_probability:
            yaw, pitch = float(rng.normal(0.0, 1.0)), float(rng.normal(0.0, 1.0))  # on the lens, with fixational jitter
        else:
            yaw, pitch = _uniform(rng, gcfg.yaw_deg), _uniform(rng, gcfg.pitch_deg)
        fixations.append((float(t), yaw, pitch))
        if t > duration_s:
            break
        t += float(rng.gamma(shape, gcfg.fixation_ms / 1000.0 / shape))
    return GazeMotion(fixations=tuple(fixations))


def saccade_duration_s(amplitude_deg: float) -> float:
    return (21.0 + 2.2 * amplitude_deg) / 1000.0  # main sequence (Carpenter 1988)


def gaze_direction(gaze: GazeMotion, t: float) -> Tuple[float, float]:
    """(yaw, pitch) in degrees at time t: the fixation in force, with a smooth saccade into it."""
    fx = gaze.fixations
    idx = max(bisect.bisect_right([f[0] for f in fx], t) - 1, 0)
    yaw, pitch = fx[idx][1], fx[idx][2]
    if idx == 0:
        return yaw, pitch
    py, pp = fx[idx - 1][1], fx[idx - 1][2]
    dur = saccade_duration_s(float(np.hypot(yaw - py, pitch - pp)))
    s = float(_smoothstep((t - fx[idx][0]) / dur))
    return py + (yaw - py) * s, pp + (pitch - pp) * s


# ---------------------------------------------------------------------------- expressions

def _envelope_params(rng: np.random.Generator, ncfg, duration_s: float) -> Dict:
    """When an expression is on: {"ramp_s", "episodes": ((onset_s, offset_s), ...)}. A short clip
    gets one episode that covers part or all of it; a long video gets episodes of episode_s
    separated by exponential gaps (mean episode_gap_s), so people do not squint for ten minutes."""
    ramp = _uniform(rng, ncfg.transition_ms) / 1000.0
    d = max(duration_s, 1e-3)
    if d <= ncfg.episode_s[0]:
        onset = float(rng.uniform(-d, 0.5 * d))
        return {"ramp_s": ramp, "episodes": ((onset, onset + float(rng.uniform(0.5 * d, 2.5 * d))),)}
    episodes = []
    t = -float(rng.uniform(0.0, ncfg.episode_s[1]))
    while t < d:
        length = _uniform(rng, ncfg.episode_s)
        episodes.append((t, t + length))
        t += length + float(rng.exponential(ncfg.episode_gap_s))
    return {"ramp_s": ramp, "episodes": tuple(episodes)}


def envelope(p, t: float) -> float:
    """0 -> 1 -> 0 over each episode of expression ``p``, smooth ramps of ramp_s at onset and offset."""
    r = max(p.ramp_s, 1e-6)
    eps = p.episodes
    i = bisect.bisect_right([e[0] for e in eps], t) - 1 if len(eps) > 8 else None
    candidates = eps if i is None else eps[max(i - 1, 0):i + 2]
    best = 0.0
    for on, off in candidates:
        best = max(best, float(_smoothstep((t - on) / r) * (1.0 - _smoothstep((t - off) / r))))
    return best


def _both_eyes_episode(r, ncfg, duration_s: float, probability: float, amplitude) -> Optional[BothEyesExpression]:
    """An expression on both eyes (squint, wide) with slightly different amplitudes, or None."""
    if not r.random() < probability:
        return None
    a = _uniform(r, amplitude)
    return BothEyesExpression(**_envelope_params(r, ncfg, duration_s), amplitude_left=a,
                              amplitude_right=float(np.clip(a + r.normal(0, 0.05), 0, 1)))


def sample_expressions(seed_seq: np.random.SeedSequence, ncfg, duration_s: float) -> Expressions:
    """Which hard negatives this clip shows, each with its own envelope (they may co-occur).
    Each negative draws from its own child of ``seed_seq``, so changing one probability leaves
    the others' samples unchanged."""
    streams = [np.random.default_rng(s) for s in seed_seq.spawn(4)]
    squint = _both_eyes_episode(streams[0], ncfg, duration_s, ncfg.squint_probability, ncfg.squint_amplitude)
    wide = _both_eyes_episode(streams[1], ncfg, duration_s, ncfg.wide_probability, ncfg.wide_amplitude)
    r = streams[2]
    look_down = None
    if r.random() < ncfg.look_down_probability:
        look_down = LookDown(**_envelope_params(r, ncfg, duration_s), pitch_deg=_uniform(r, ncfg.look_down_deg))
    r = streams[3]
    talking = None
    if r.random() < ncfg.talking_probability:
        hz = _uniform(r, ncfg.talking_syllable_hz)
        n_syll = 32  # per-syllable amplitudes, cycled
        talking = Talking(**_envelope_params(r, ncfg, duration_s), syllable_hz=hz,
                          phase=float(r.uniform(0.0, 1.0)),
                          jaw=tuple(_uniform(r, ncfg.talking_jaw_open) for _ in range(n_syll)),
                          funnel=tuple(float(r.uniform(0.0, 0.4)) for _ in range(n_syll)))
    return Expressions(squint=squint, wide=wide, look_down=look_down, talking=talking)


def expression_state(expr: Expressions, t: float) -> Tuple[Dict[str, float], float]:
    """(face units, extra gaze pitch in degrees) of the clip's expressions at time t."""
    units: Dict[str, float] = {}
    pitch_offset = 0.0
    sq = expr.squint
    if sq:
        e = envelope(sq, t)
        units["eyeSquintLeft"] = e * sq.amplitude_left
        units["eyeSquintRight"] = e * sq.amplitude_right
        units["cheekSquintLeft"] = 0.5 * units["eyeSquintLeft"]  # a squint raises the cheeks too
        units["cheekSquintRight"] = 0.5 * units["eyeSquintRight"]
    wd = expr.wide
    if wd:
        e = envelope(wd, t)
        units["eyeWideLeft"] = e * wd.amplitude_left
        units["eyeWideRight"] = e * wd.amplitude_right
        units["browInnerUp"] = 0.5 * e * max(wd.amplitude_left, wd.amplitude_right)  # surprise
    ld = expr.look_down
    if ld:
        pitch_offset = -envelope(ld, t) * ld.pitch_deg
    tk = expr.talking
    if tk:
        e = envelope(tk, t)
        ph = tk.syllable_hz * t + tk.phase
        k = int(np.floor(ph)) % len(tk.jaw)
        cycle = float(np.sin(np.pi * (ph - np.floor(ph))) ** 2)  # one open-close per syllable
        units["jawOpen"] = e * tk.jaw[k] * cycle
        units["mouthFunnel"] = e * tk.funnel[k] * cycle
        units["mouthLowerDownLeft"] = units["mouthLowerDownRight"] = 0.5 * units["jawOpen"]
    return units, pitch_offset


# ---------------------------------------------------------------------------- camera shake

def sample_shake(rng: np.random.Generator, ccfg) -> CameraShake:
    """Two sinusoids per axis (hand tremor + slower sway); amplitude 0 when the camera is steady."""
    if rng.random() >= ccfg.shake_probability:
        return CameraShake(amplitude_m=0.0, hz=(1.0, 1.0), phases=((0.0, 0.0),) * 3)
    return CameraShake(amplitude_m=_uniform(rng, ccfg.shake_mm) / 1000.0,
                       hz=(_uniform(rng, ccfg.shake_hz), _uniform(rng, ccfg.shake_hz) * 0.37),
                       phases=tuple((float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi)))
                                    for _ in range(3)))


def shake_offset(shake: CameraShake, t: float) -> Tuple[float, float, float]:
    """Camera offset (x right, y up, z toward the subject) in metres, |each| <= amplitude."""
    a = shake.amplitude_m
    if a == 0.0:
        return (0.0, 0.0, 0.0)
    f1, f2 = shake.hz
    out = []
    for axis, (p1, p2) in enumerate(shake.phases):
        scale = 0.3 if axis == 2 else 1.0  # less shake along the optical axis
        out.append(float(a * scale * 0.5 * (np.sin(2 * np.pi * f1 * t + p1) + np.sin(2 * np.pi * f2 * t + p2))))
    return tuple(out)
