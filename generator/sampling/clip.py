"""ClipSpec: everything sampled for one clip, and the per-frame state it implies.

    spec = sample_clip(cfg, clip_index)        # deterministic in (cfg.seed, clip_index) only
    fs = spec.frame_state(t)                   # units, head pose, gaze, shake, phase, blink_id
    row = spec.to_row()                        # one clips.csv row (scalars + JSON strings)
    ClipSpec.from_row(row) == spec             # also from the strings csv.DictReader returns

Every aspect is a frozen dataclass next to its sampler (Identity, BlinkEvent, HeadMotion,
GazeMotion, Expressions, CameraShake, CameraSpec, LightSpec, BackgroundSpec, RenderSpec); its
clips.csv column is ``jsonable.to_json`` of it, read back with ``jsonable.from_json``.

Each aspect (blink, head, gaze, expressions, shake, camera, lights, background) draws from its
own child stream SeedSequence([seed, clip_index], spawn_key=(ASPECT,)): adding an aspect or
changing how one is sampled leaves every other aspect of every clip unchanged. The subject's face
comes from the subject's own seed, so all clips of a subject show the same person.
"""
import bisect
import json
import typing
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from manifests.schema import EYES

from . import blink as blink_mod
from . import motion
from .blink import BlinkEvent
from .environment import (BackgroundSpec, CameraSpec, LightSpec, sample_background, sample_camera,
                          sample_light_level, sample_lights)
from .identity import Identity, sample_identity, subject_for_clip, subject_seed_for
from .jsonable import from_json, to_json
from .motion import CameraShake, Expressions, GazeMotion, HeadMotion

# The clip contract's version (clips.csv rows, config.json "versions"): bump it whenever a sampled
# field is added or changes meaning, so old rows and old datasets are told apart, not half-read.
# 2: Identity.eye_detail (incl. iris_width_fraction), brow_shape, glasses.
# 3: Glasses.seat_drop_m (frames slid down the nose), Identity.makeup.
SPEC_VERSION = 3
# spawn keys of the per-aspect streams: never renumber, only append
ASPECTS = {"blink": 0, "head": 1, "gaze": 2, "expressions": 3, "shake": 4, "camera": 5, "lights": 6,
           "background": 7, "light_level": 8}

# Every face unit a frame state sets, always all of them (zeros included) so that a scene that
# keeps shape-key values between frames never carries a squint or a jaw over from a previous clip.
UNIT_NAMES = (
    "eyeBlinkLeft", "eyeBlinkRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "cheekSquintLeft", "cheekSquintRight", "browInnerUp",
    "jawOpen", "mouthFunnel", "mouthLowerDownLeft", "mouthLowerDownRight",
)


def clip_id_for(cfg, clip_index: int) -> str:
    """Stable id of clip ``clip_index`` of a dataset with seed ``cfg.seed``."""
    return f"{int(cfg.seed):04d}_{int(clip_index):07d}"


def subject_name(seed: int, subject_index: int) -> str:
    """manifest subject_id: qualified by the dataset seed, so merged datasets never share ids of different faces."""
    return f"{int(seed):04d}_s{int(subject_index):05d}"


@dataclass
class FrameState:
    frame: int
    time_s: float
    units: Dict[str, float]  # ARKit face-unit weights; ...Left is the subject's left eye
    head_yaw: float  # degrees, head relative to the camera
    head_pitch: float
    head_roll: float
    gaze_yaw: float  # degrees, the whole eye direction; positive looks to the subject's left
    gaze_pitch: float  # degrees; positive looks up (FaceModel.pose_vertices makes the lids follow)
    camera_shake: Tuple[float, float, float]  # metres (x right, y up, z toward the subject)
    phase: Dict[str, str]  # per eye: open|closing|closed|opening
    blink_id: Dict[str, int]  # per eye: event id, -1 outside events
    blink_weight: Dict[str, float]  # per eye: the eyeBlink curve value (not the measured closure)


@dataclass(frozen=True)
class RenderSpec:
    """How the clip is rendered (from the config's render section; recorded so a row rebuilds its clip)."""
    engine: str  # cycles|eevee|workbench
    samples: int
    denoise: bool
    eye_region: bool  # render only a border around the eyes (black elsewhere)

    @classmethod
    def from_config(cls, rcfg) -> "RenderSpec":
        return cls(engine=rcfg.engine, samples=int(rcfg.samples), denoise=bool(rcfg.denoise),
                   eye_region=bool(rcfg.eye_region))


@dataclass
class ClipSpec:
    clip_id: str
    clip_index: int
    seed: int
    subject_index: int
    subject_id: str
    n_frames: int
    fps: float
    resolution: List[int]  # [W, H]
    mode: str  # clip | video
    subsamples: int
    shutter: float
    closed_band: float
    identity: Identity
    blink_events: List[BlinkEvent]
    head: HeadMotion
    gaze: GazeMotion
    expressions: Expressions
    shake: CameraShake
    camera: CameraSpec
    lights: Tuple[LightSpec, ...]  # the first is the key light
    low_light: bool
    background: BackgroundSpec
    render: RenderSpec
    version: int = SPEC_VERSION

    # -- convenience
    @property
    def width(self) -> int:
        return int(self.resolution[0])

    @property
    def height(self) -> int:
        return int(self.resolution[1])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def clip_blink_label(self) -> int:
        """1 when the peak of a blink event (either eye) falls on a frame of this clip."""
        return blink_mod.clip_blink_label(self.blink_events, self.n_frames, self.fps)

    def cut_event(self) -> int:
        """1 when the clip's first or last frame cuts a blink event in half."""
        return blink_mod.cut_event(self.blink_events, self.n_frames, self.fps)

    def negatives(self) -> List[str]:
        return list(self.expressions.names())

    # -- per frame
    def events_between(self, t0: float, t1: float) -> List[BlinkEvent]:
        """The events whose span meets [t0, t1] (s), by bisection: a long video holds thousands."""
        spans = getattr(self, "_spans", None)
        if spans is None or len(spans) != len(self.blink_events):
            spans = [ev.span_s() for ev in self.blink_events]  # sorted and disjoint (renumbered by peak)
            self._spans = spans
        i = max(bisect.bisect_right([s[0] for s in spans], t1) - 1, 0) if spans else 0
        return [ev for ev, (a, b) in zip(self.blink_events[max(i - 2, 0):i + 2], spans[max(i - 2, 0):i + 2])
                if a <= t1 and b >= t0]

    def blink_curve(self, eye: str, frames=None) -> np.ndarray:
        """eyeBlink weight per frame for ``eye`` (with the sub-frame integration of the config)."""
        frames = np.arange(self.n_frames) if frames is None else np.asarray(frames)
        events = self.blink_events
        if len(frames) == 1 and len(events) > 4:
            t = float(frames[0]) / self.fps
            half = 0.5 * self.shutter / self.fps
            events = self.events_between(t - half, t + half)
        return blink_mod.frame_curve(events, eye, frames, self.fps, self.subsamples, self.shutter)

    def frame_state(self, t: int) -> FrameState:
        if not 0 <= int(t) < self.n_frames:
            raise IndexError(f"clip {self.clip_id}: frame {t} outside 0..{self.n_frames - 1}")
        time_s = int(t) / self.fps
        units = {name: 0.0 for name in UNIT_NAMES}
        phase, ids, weight = {}, {}, {}
        for eye in EYES:
            w = float(self.blink_curve(eye, [t])[0])
            near = self.events_between(time_s, time_s) if len(self.blink_events) > 4 else self.blink_events
            names, bid = blink_mod.eye_phase(near, eye, [time_s], self.closed_band)
            phase[eye], ids[eye], weight[eye] = names[0], int(bid[0]), w
            units["eyeBlinkLeft" if eye == "left" else "eyeBlinkRight"] = w
        expr_units, pitch_offset = motion.expression_state(self.expressions, time_s)
        units.update(expr_units)
        # gaze angles are the whole eye direction; the face model derives the lid-following
        # eyeLook* weights from them, so eyeLook* stay 0 here (both would turn the eye twice)
        yaw, pitch = motion.gaze_direction(self.gaze, time_s)
        pitch += pitch_offset
        hy, hp, hr = motion.head_pose(self.head, time_s)
        return FrameState(frame=int(t), time_s=time_s, units=units, head_yaw=hy, head_pitch=hp, head_roll=hr,
                          gaze_yaw=float(yaw), gaze_pitch=float(pitch),
                          camera_shake=motion.shake_offset(self.shake, time_s),
                          phase=phase, blink_id=ids, blink_weight=weight)

    # -- clips.csv
    _JSON_FIELDS = ("resolution", "identity", "blink_events", "head", "gaze", "expressions",
                    "shake", "camera", "lights", "background", "render")
    _SCALARS = {"clip_id": str, "clip_index": int, "seed": int, "subject_index": int, "subject_id": str,
                "n_frames": int, "fps": float, "mode": str, "subsamples": int, "shutter": float,
                "closed_band": float, "low_light": bool, "version": int}

    def to_row(self) -> Dict:
        """One clips.csv row: manifest columns, summary columns for stats (derived, ignored by
        from_row), and every sampled parameter (JSON strings; floats keep all digits)."""
        row = {
            "clip_id": self.clip_id, "subject_id": self.subject_id, "n_frames": self.n_frames, "fps": self.fps,
            "width": self.width, "height": self.height, "blink": self.clip_blink_label(),
            "cut_event": self.cut_event(),
            # summaries
            "n_blink_events": len(self.blink_events),
            "partial_blinks": sum(1 for e in self.blink_events if e.partial),
            "winks": sum(1 for e in self.blink_events if e.wink),
            "drowsy_blinks": sum(1 for e in self.blink_events if e.drowsy),
            "negatives": "+".join(self.negatives()),
            "background_kind": self.background.KIND,
            "n_lights": len(self.lights),
        }
        for name in self._SCALARS:
            row[name] = getattr(self, name)
        row["low_light"] = int(self.low_light)
        for name in self._JSON_FIELDS:
            row[name] = json.dumps(to_json(getattr(self, name)), sort_keys=True, separators=(",", ":"))
        return row

    @classmethod
    def from_row(cls, row: Dict) -> "ClipSpec":
        """Rebuild a spec from a clips.csv row (strings or parsed values). Raises ValueError naming
        the clip and the column (and the key inside it) when a value is missing or malformed."""
        clip = row.get("clip_id", "?")
        kwargs = {}
        for name, typ in cls._SCALARS.items():
            kwargs[name] = _parse_scalar(row, name, typ, clip)
        if kwargs["version"] != SPEC_VERSION:  # before the JSON: an older row lacks newer fields
            raise ValueError(f"clips.csv clip {clip}: spec version {kwargs['version']} (this code reads {SPEC_VERSION})")
        hints = typing.get_type_hints(cls)
        for name in cls._JSON_FIELDS:
            raw = row.get(name)
            if raw is None or (isinstance(raw, float) and raw != raw):
                raise ValueError(f"clips.csv clip {clip}: column {name!r} is missing")
            try:
                kwargs[name] = from_json(hints[name], json.loads(raw) if isinstance(raw, str) else raw, name)
            except ValueError as exc:
                raise ValueError(f"clips.csv clip {clip}: column {name!r} is not a valid value: {exc}") from None
        return cls(**kwargs)


def _parse_scalar(row: Dict, name: str, typ, clip):
    raw = row.get(name)
    if raw is None or (isinstance(raw, float) and raw != raw) or raw == "":
        raise ValueError(f"clips.csv clip {clip}: column {name!r} is missing")
    try:
        if typ is bool:
            if isinstance(raw, str):
                if raw.strip().lower() in ("1", "true"):
                    return True
                if raw.strip().lower() in ("0", "false"):
                    return False
                raise ValueError(raw)
            return bool(int(raw))
        if typ is int:
            f = float(raw)
            if not f.is_integer():
                raise ValueError(raw)
            return int(f)
        if typ is float:
            return float(raw)
        return str(raw)
    except (ValueError, TypeError):
        raise ValueError(f"clips.csv clip {clip}: column {name!r} must be {typ.__name__}, got {raw!r}") from None


def _stream(cfg, clip_index: int, aspect: str) -> np.random.Generator:
    ss = np.random.SeedSequence([int(cfg.seed), int(clip_index)], spawn_key=(ASPECTS[aspect],))
    return np.random.default_rng(ss)


def sample_clip(cfg, clip_index: int) -> ClipSpec:
    """Every parameter of clip ``clip_index``; a pure function of (cfg, clip_index)."""
    clip_index = int(clip_index)
    if clip_index < 0:
        raise ValueError(f"clip_index must be >= 0, got {clip_index}")
    c = cfg.clip
    n_frames, fps = int(c.n_frames), float(c.fps)
    duration = n_frames / fps
    subject_index = subject_for_clip(cfg, clip_index)
    identity = sample_identity(subject_seed_for(cfg, subject_index), cfg, subject_index)

    expressions = motion.sample_expressions(
        np.random.SeedSequence([int(cfg.seed), int(clip_index)], spawn_key=(ASPECTS["expressions"],)),
        cfg.negatives, duration)
    r = _stream(cfg, clip_index, "blink")
    if c.mode == "clip":
        events = blink_mod.sample_clip_events(r, cfg.blink, n_frames, fps)
    else:
        base, talking, reading = identity.blink_rate_per_min, expressions.talking, expressions.look_down

        def rate_at(t: float) -> float:  # conversation raises the rate, reading (looking down) lowers it
            if talking and motion.envelope(talking, t) > 0.5:
                return base * cfg.blink.talking_rate_factor
            if reading and motion.envelope(reading, t) > 0.5:
                return base * cfg.blink.reading_rate_factor
            return base

        events = blink_mod.sample_rate_events(r, cfg.blink, duration, rate_at)

    low_light, light_scale = sample_light_level(_stream(cfg, clip_index, "light_level"), cfg.lighting)
    lights = sample_lights(_stream(cfg, clip_index, "lights"), cfg.lighting, light_scale)
    background = sample_background(_stream(cfg, clip_index, "background"), cfg.background,
                                   cfg.lighting.world_strength, light_scale)
    return ClipSpec(
        clip_id=clip_id_for(cfg, clip_index), clip_index=clip_index, seed=int(cfg.seed),
        subject_index=subject_index, subject_id=subject_name(cfg.seed, subject_index),
        n_frames=n_frames, fps=fps, resolution=[int(v) for v in c.resolution], mode=c.mode,
        subsamples=int(c.subsamples), shutter=float(c.shutter), closed_band=float(cfg.blink.closed_band),
        identity=identity, blink_events=events,
        head=motion.sample_head(_stream(cfg, clip_index, "head"), cfg.head, duration),
        gaze=motion.sample_gaze(_stream(cfg, clip_index, "gaze"), cfg.gaze, duration),
        expressions=expressions,
        shake=motion.sample_shake(_stream(cfg, clip_index, "shake"), cfg.camera),
        camera=sample_camera(_stream(cfg, clip_index, "camera"), cfg.camera),
        lights=lights, low_light=low_light, background=background,
        render=RenderSpec.from_config(cfg.render),
    )
