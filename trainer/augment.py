"""Window augmentation (domain randomisation): one set of random parameters for every frame of a window.

A blink is a change over time, so an augmentation must not invent one: framing, colour, blur,
resolution, JPEG quality, occluders and the flip are drawn ONCE per window and applied to all of
its frames. Only sensor noise and the crop wobble are drawn per frame, because real ones are:
noise is independent per frame, and a real landmark detector's corners jitter from frame to frame
and lag behind a moving head, so the crop wobbles round the eye (`jitter_p`: a small random shift
and zoom per frame plus a slow sinusoidal drift). The renders' crops come from exact landmarks and
never wobble; a model trained only on them read a bobbing head's wobble as blinks.
A horizontal flip turns a left eye into something that looks like a right eye, so it also
swaps the sample's `eye` index; its labels stay with it (it is still the same eye's closure).

Framing: a real landmark detector frames the eye its own way (2-2.6x the corner distance in the
real eye-state sets, off-centre, rolled). When the dataset gives an item a `framing`
(FramingInput: the window cut from a larger cached "context" crop, see trainer.data), a square of
scale x corner distance, offset and roll is cut from it, but only where every frame of the
window holds rendered pixels (eye-region renders are black outside a border box,
trainer.crops.rendered_rect): a draw that reaches the black is shrunk until it fits, so the
framing is clamped to what the data holds.

Presets (`PRESETS`, `--augment-preset` in trainer.fit): "default" is the augmentation every
earlier run used; "strong" is the full randomisation of issue 12; "affine" is the issue's quick
trial (wide affine zoom, low resolution); "affine_wobble" adds the per-frame crop wobble to half
the windows; "none" switches all off. Measured: BENCHMARKS.md.
Deterministic: the same `torch.Generator` state gives the same output.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class FramingInput:
    """What framing needs to know about one window (trainer.data puts it in an item's "framing")."""
    boxes: np.ndarray          # [T, 4] nominal crop boxes (cx, cy, side, angle) in frame pixels
    rects: np.ndarray          # [T, 4] rendered part of each frame (x0, y0, x1, y1)
    corner_scale: float        # the nominal crop's side / corner distance (CropConfig.scale)
    context_scale: float       # the cached context crop's side / corner distance
    size: int                  # output crop side in pixels


@dataclass
class AugmentConfig:
    # defaults = the "default" preset (what every run before issue 12 trained with)
    flip_p: float = 0.5            # left/right eyes are mirror images: free 2x data
    affine_p: float = 0.5          # landmark error and head roll residue in real crops
    max_rotate_deg: float = 8.0
    max_shift: float = 0.06        # fraction of the crop side
    max_scale: float = 0.08        # +- relative zoom (eye size vs. corner distance varies)
    color_p: float = 0.8           # lighting and skin/camera colour differ from the renders
    brightness: float = 0.35
    contrast: float = 0.35
    saturation: float = 0.35
    hue: float = 0.04
    grayscale_p: float = 0.1       # IR / monochrome cameras
    blur_p: float = 0.25           # defocus, motion and low-resolution faces
    max_blur_sigma: float = 1.2
    noise_p: float = 0.3           # sensor noise, drawn per frame
    max_noise_std: float = 8.0     # in 0..255 units
    jpeg_p: float = 0.3            # compressed web / movie video (HUST-LEBW)
    jpeg_quality: tuple[int, int] = (30, 95)
    # --- issue 12 domain randomisation (off by default; see PRESETS["strong"]) ---------------
    framing_p: float = 0.0         # re-frame the eye like another landmark detector would
    framing_scale: tuple[float, float] = (1.3, 2.8)  # side / corner distance, log-uniform
    framing_max_offset: float = 0.15  # centre shift, in corner distances per axis
    framing_max_roll_deg: float = 15.0
    gamma_wb_p: float = 0.0        # camera tone curve and white balance
    gamma: tuple[float, float] = (0.6, 1.6)
    white_balance: float = 0.2     # +- per-channel gain
    lowres_p: float = 0.0          # small eyes: down to this many pixels and back up
    lowres_px: tuple[int, int] = (12, 24)
    occluder_p: float = 0.0        # glasses frames / hair strands across the eye
    jitter_p: float = 0.0          # per-frame crop wobble of real landmarks (jitter, lag behind head motion)
    jitter_shift: float = 0.03     # max per-frame shift std, of the crop side: assuming FaceMesh corners
                                   # jitter ~1-2 px on a ~30 px eye (not measured), crop 1.6 eye widths
    jitter_zoom: float = 0.03      # max per-frame zoom std (the corner distance jitters too)
    jitter_drift: float = 0.08     # max amplitude of the slow drift, of the crop side: smoothed
                                   # corners trailing a head that bobs at 1-4 Hz

    def __post_init__(self):
        for k, v in asdict(self).items():
            if k.endswith("_p") and not 0 <= v <= 1:
                raise ValueError(f"augment {k}: must be a probability in [0, 1], got {v!r}")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise ValueError(f"augment jpeg_quality: need 1 <= low <= high <= 100, got {self.jpeg_quality!r}")
        lo, hi = self.framing_scale
        if not 0.5 <= lo <= hi <= 8:
            raise ValueError(f"augment framing_scale: need 0.5 <= low <= high <= 8, got {self.framing_scale!r}")
        lo, hi = self.lowres_px
        if not 4 <= lo <= hi:
            raise ValueError(f"augment lowres_px: need 4 <= low <= high, got {self.lowres_px!r}")
        for k in ("jitter_shift", "jitter_zoom", "jitter_drift"):
            if not 0 <= getattr(self, k) <= 0.5:
                raise ValueError(f"augment {k}: must be in [0, 0.5] (a fraction of the crop side), got {getattr(self, k)!r}")
        lo, hi = self.gamma
        if not 0 < lo <= hi:
            raise ValueError(f"augment gamma: need 0 < low <= high, got {self.gamma!r}")

    @property
    def context_scale(self) -> float | None:
        """Side / corner distance of the context crop framing cuts from (None: no framing)."""
        return self.framing_scale[1] if self.framing_p > 0 else None


PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(flip_p=0, affine_p=0, color_p=0, grayscale_p=0, blur_p=0, noise_p=0, jpeg_p=0),
    "default": AugmentConfig(),
    # issue 12: every probability high enough that most windows look unlike a clean render, low
    # enough that some clean ones remain (the synthetic validation set is clean).
    "strong": AugmentConfig(
        framing_p=0.9,             # real crops: 2-2.6x, off-centre, rolled; 10% stay nominal
        affine_p=0.0,              # framing already shifts, zooms and rolls
        color_p=0.8, brightness=0.4, contrast=0.4, saturation=0.5, hue=0.05,  # cameras and skin
        gamma_wb_p=0.5,            # half the windows get another tone curve / white balance
        grayscale_p=0.3,           # IR / monochrome cameras; the 24 px set aside is grayscale
        lowres_p=0.5,              # webcam eyes 10-16 px tall, 24 px crops: half the windows
        blur_p=0.4, max_blur_sigma=1.5,  # defocus and motion
        noise_p=0.4, max_noise_std=10.0,  # low-light sensor noise
        jpeg_p=0.4, jpeg_quality=(20, 90),  # web video and JPEG crops
        occluder_p=0.2,            # glasses and hair cover a fraction of real eyes
    ),
    # the quick trial of issue 12 that helped blinkformer_cnn_tiny on 240 clips (Kaggle AUROC 0.916
    # -> 0.960): wide zoom by affine jitter (reflected borders), no framing from a context crop
    "affine": AugmentConfig(
        affine_p=0.9, max_scale=0.35, max_shift=0.12, max_rotate_deg=12.0,  # landmark-detector framing
        grayscale_p=0.4,           # IR / monochrome cameras
        blur_p=0.4, max_blur_sigma=1.5,  # defocus and motion
        jpeg_p=0.4,                # compressed video and web crops
        lowres_p=0.5, lowres_px=(12, 36),  # small eyes in video
    ),
}
# "affine" + the per-frame crop wobble of real landmarks on half the windows (the other half keep
# the steady crop the renders give)
PRESETS["affine_wobble"] = replace(PRESETS["affine"], jitter_p=0.5)


def preset(name: str) -> AugmentConfig:
    if name not in PRESETS:
        raise ValueError(f"augment preset: unknown {name!r}; use one of {', '.join(PRESETS)}")
    return PRESETS[name]


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * torch.rand((), generator=g).item()


_GRAY = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as torchvision's rgb_to_grayscale
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def color_matrix(brightness: float, contrast: float, saturation: float, hue: float, mean_gray: float) -> np.ndarray:
    """Brightness, contrast (about `mean_gray`, the WINDOW's mean grey, so every frame gets the same
    map), saturation and hue (a rotation of the YIQ chroma plane by `hue` turns) folded into one
    affine colour map [3, 4]: y = M x + b, applied in one pass by cv2.transform."""
    m = contrast * brightness * np.eye(3)
    b = (1 - contrast) * brightness * mean_gray * np.ones(3)
    sat = saturation * np.eye(3) + (1 - saturation) * np.tile(_GRAY, (3, 1))
    a = 2 * np.pi * hue
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    h = np.linalg.inv(_RGB2YIQ) @ rot @ _RGB2YIQ
    full = h @ sat
    return np.concatenate([full @ m, (full @ b)[:, None]], axis=1)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def draw_framing(f: FramingInput, cfg: AugmentConfig, g: torch.Generator) -> tuple[float, tuple[float, float], float]:
    """(scale, offset, roll) of one window's framing: a log-uniform scale, uniform offset and roll;
    where that reaches unrendered pixels (or beyond the context crop) of any frame, the scale is
    shrunk by bisection, then offset and roll dropped; the nominal crop is the last resort."""
    from trainer.crops import framing_fits

    lo, hi = cfg.framing_scale
    scale = math.exp(_u(g, math.log(lo), math.log(hi)))
    offset = (_u(g, -1, 1) * cfg.framing_max_offset, _u(g, -1, 1) * cfg.framing_max_offset)
    roll = math.radians(_u(g, -1, 1) * cfg.framing_max_roll_deg)

    def fits(s, o, r):
        return framing_fits(f.boxes, f.rects, s, o, r, f.corner_scale, f.context_scale)

    for o, r in ((offset, roll), ((0.0, 0.0), 0.0)):
        if fits(scale, o, r):
            return scale, o, r
        if fits(lo, o, r):
            a, b = lo, scale  # a fits, b does not
            for _ in range(6):
                mid = (a + b) / 2
                a, b = (mid, b) if fits(mid, o, r) else (a, mid)
            return a, o, r
    return f.corner_scale, (0.0, 0.0), 0.0


def _curve(p0, p1, p2, n: int = 12) -> np.ndarray:
    """Points of the quadratic Bezier p0 -> p2 bent towards p1 (for occluder strokes)."""
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * np.asarray(p0) + 2 * t * (1 - t) * np.asarray(p1) + t ** 2 * np.asarray(p2)


def draw_occluder(a: np.ndarray, g: torch.Generator) -> np.ndarray:
    """Glasses-frame-like rim or hair strands, drawn at the same place in every frame of [T,S,S,3]
    (the crop follows the eye; glasses and fringe move with the head). Hand-written: no library
    draws these; OpenCV draws the anti-aliased strokes."""
    s = a.shape[1]
    sub = 8  # cv2 fixed-point sub-pixel bits: smooth strokes at 48 px
    overlay, mask = np.zeros((s, s, 3), np.uint8), np.zeros((s, s), np.uint8)
    if _u(g) < 0.5:  # a glasses rim: a thick, gently curved line above or below the eye (or both)
        colour = [int(_u(g, 0, 90))] * 3 if _u(g) < 0.6 else [int(_u(g, 0, 255)) for _ in range(3)]
        thick = max(1, round(_u(g, 0.03, 0.08) * s))
        for top in ((True,), (False,), (True, False))[int(_u(g) * 2.999)]:
            y = _u(g, 0.02, 0.3) * s if top else _u(g, 0.7, 0.98) * s
            bend = _u(g, 0.05, 0.2) * s * (-1 if top else 1)
            pts = _curve((-0.1 * s, y - bend), (s / 2, y + bend), (1.1 * s, y - bend + _u(g, -0.1, 0.1) * s))
            for img, c in ((overlay, colour), (mask, 255)):
                cv2.polylines(img, [np.rint(pts * (1 << sub)).astype(np.int32)], False, c, thick, cv2.LINE_AA, sub)
        alpha = _u(g, 0.7, 1.0)
    else:  # hair strands: thin dark (or fair) curves entering from the top
        base = [_u(g, 10, 60), _u(g, 10, 50), _u(g, 5, 40)] if _u(g) < 0.7 else [_u(g, 120, 220)] * 3
        for _ in range(int(_u(g, 1, 7))):
            x0 = _u(g, -0.2, 1.2) * s
            p0, p2 = (x0, -0.1 * s), (x0 + _u(g, -0.6, 0.6) * s, _u(g, 0.3, 1.1) * s)
            p1 = ((p0[0] + p2[0]) / 2 + _u(g, -0.3, 0.3) * s, (p0[1] + p2[1]) / 2)
            c = [int(np.clip(v + _u(g, -15, 15), 0, 255)) for v in base]
            pts = np.rint(_curve(p0, p1, p2) * (1 << sub)).astype(np.int32)
            cv2.polylines(overlay, [pts], False, c, 1, cv2.LINE_AA, sub)
            cv2.polylines(mask, [pts], False, 255, 1, cv2.LINE_AA, sub)
        alpha = _u(g, 0.5, 0.9)
    w = (mask.astype(np.float32) / 255 * alpha)[None, :, :, None]
    return np.rint(a * (1 - w) + overlay[None].astype(np.float32) * w).astype(np.uint8)


def crop_wobble(t: int, s: int, cfg: AugmentConfig, g: torch.Generator) -> list[np.ndarray]:
    """Per-frame 2x3 maps of a real landmark detector's crop wobble on T frames of side S: a shift
    and zoom jitter (std up to jitter_shift / jitter_zoom, independent per frame) plus a slow drift
    (a sinusoid of amplitude up to jitter_drift, period 6-20 frames, random direction)."""
    sd, zd = _u(g, 0, cfg.jitter_shift) * s, _u(g, 0, cfg.jitter_zoom)
    amp, period, phase, direction = _u(g, 0, cfg.jitter_drift) * s, _u(g, 6, 20), _u(g, 0, 2 * math.pi), _u(g, 0, 2 * math.pi)
    n = torch.randn((t, 3), generator=g).numpy()
    maps = []
    for k in range(t):
        drift = amp * math.sin(2 * math.pi * k / period + phase)
        m = cv2.getRotationMatrix2D(((s - 1) / 2, (s - 1) / 2), 0.0, 1.0 + zd * float(n[k, 2]))
        m[:, 2] += (sd * n[k, 0] + drift * math.cos(direction), sd * n[k, 1] + drift * math.sin(direction))
        maps.append(m)
    return maps


def _compose(outer: np.ndarray, inner: np.ndarray | None) -> np.ndarray:
    """The 2x3 map applying `inner` (None: identity) then `outer`."""
    if inner is None:
        return outer
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def gamma_wb_lut(gamma: float, gains) -> np.ndarray:
    """Per-channel lookup table [1, 256, 3]: white-balance gains, then a gamma tone curve."""
    v = np.arange(256, dtype=np.float64)[:, None] / 255
    return np.clip(np.rint(255 * np.clip(v * np.asarray(gains)[None], 0, 1) ** gamma), 0, 255).astype(np.uint8)[None]


class WindowAugment:
    """`aug(sample, generator) -> sample` on dataset items ({"frames": uint8 [T,3,S,S], "eye": ...};
    with a "framing" FramingInput, "frames" is the context crop and the output is framing.size)."""

    def __init__(self, cfg: AugmentConfig | str | None = None, **overrides):
        base = preset(cfg) if isinstance(cfg, str) else cfg
        self.cfg = replace(base, **overrides) if base is not None else AugmentConfig(**overrides)

    def __repr__(self):
        return f"WindowAugment({self.cfg})"

    @property
    def context_scale(self) -> float | None:
        return self.cfg.context_scale

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        # numpy + OpenCV (single-threaded) rather than torch ops: torch's intra-op threads on
        # 50 KB tensors cost more than the work, badly so on a busy machine.
        c, g = self.cfg, generator if generator is not None else torch.Generator().manual_seed(torch.seed() % 2**63)
        x = sample["frames"]
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"augment expects uint8 frames [T,3,S,S], got {x.dtype} {tuple(x.shape)}")
        out = dict(sample)
        a = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))  # [T, S, S, 3] RGB
        framing = out.pop("framing", None)
        if framing is not None:
            from trainer.crops import cut_framing

            scale, offset, roll = framing.corner_scale, (0.0, 0.0), 0.0
            if _u(g) < c.framing_p:
                scale, offset, roll = draw_framing(framing, c, g)
            a = cut_framing(a, framing.context_scale, scale, offset, roll, framing.size)
        t, s = a.shape[0], a.shape[1]
        warps = None  # per-frame 2x3 maps: the window's affine, then each frame's wobble
        if _u(g) < c.affine_p:
            ang = _u(g, -c.max_rotate_deg, c.max_rotate_deg)
            scale = 1 + _u(g, -c.max_scale, c.max_scale)
            tx, ty = (_u(g, -c.max_shift, c.max_shift) * s for _ in range(2))
            m = cv2.getRotationMatrix2D(((s - 1) / 2, (s - 1) / 2), ang, scale)
            m[:, 2] += (tx, ty)
            warps = [m] * t
        if c.jitter_p > 0 and _u(g) < c.jitter_p:  # (no draw when off: other presets' streams unchanged)
            warps = [_compose(w, m) for w, m in zip(crop_wobble(t, s, c, g), warps or [None] * t)]
        if warps is not None:
            a = np.stack([cv2.warpAffine(f, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
                          for f, m in zip(a, warps)])
        if _u(g) < c.flip_p:
            a = np.ascontiguousarray(a[:, :, ::-1])
            out["eye"] = 1 - sample["eye"]
        if _u(g) < c.occluder_p:
            a = draw_occluder(a, g)
        if _u(g) < c.color_p:
            mean_gray = float(a.reshape(-1, 3).mean(axis=0) @ _GRAY)
            cm = color_matrix(_u(g, 1 - c.brightness, 1 + c.brightness), _u(g, 1 - c.contrast, 1 + c.contrast),
                              _u(g, 1 - c.saturation, 1 + c.saturation), _u(g, -c.hue, c.hue), mean_gray)
            a = cv2.transform(a.reshape(t * s, s, 3).astype(np.float32), cm.astype(np.float32))
            a = np.clip(np.rint(a), 0, 255).astype(np.uint8).reshape(t, s, s, 3)
        if _u(g) < c.gamma_wb_p:
            lut = gamma_wb_lut(_u(g, *c.gamma), [_u(g, 1 - c.white_balance, 1 + c.white_balance) for _ in range(3)])
            a = cv2.LUT(a.reshape(t * s, s, 3), lut).reshape(t, s, s, 3)
        if _u(g) < c.grayscale_p:
            gray = cv2.cvtColor(a.reshape(t * s, s, 3), cv2.COLOR_RGB2GRAY)
            a = np.repeat(gray.reshape(t, s, s, 1), 3, axis=3)
        if _u(g) < c.blur_p:
            sigma = _u(g, 0.1, c.max_blur_sigma)
            k = 2 * math.ceil(2.5 * sigma) + 1
            a = np.stack([cv2.GaussianBlur(f, (k, k), sigma) for f in a])
        # a small eye is noisy and compressed at ITS resolution, then upscaled by the crop
        lowres = int(torch.randint(c.lowres_px[0], c.lowres_px[1] + 1, (), generator=g)) if _u(g) < c.lowres_p else 0
        upsample = cv2.INTER_LINEAR if _u(g) < 0.5 else cv2.INTER_CUBIC
        if lowres and lowres < s:
            a = np.stack([cv2.resize(f, (lowres, lowres), interpolation=cv2.INTER_AREA) for f in a])
        if _u(g) < c.noise_p:
            std = _u(g, 0.5, c.max_noise_std)
            noise = torch.randn(a.shape, generator=g).numpy()  # independent per frame
            a = np.clip(np.rint(a + std * noise), 0, 255).astype(np.uint8)
        if _u(g) < c.jpeg_p:
            lo, hi = c.jpeg_quality
            q = int(torch.randint(lo, hi + 1, (), generator=g))
            a = np.stack([_jpeg(f, q) for f in a])
        if a.shape[1] != s:
            a = np.stack([cv2.resize(f, (s, s), interpolation=upsample) for f in a])
        out["frames"] = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
        return out
