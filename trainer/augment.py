"""Window augmentation: one set of random parameters for every frame of a window.

A blink is a change over time, so an augmentation must not invent one: colour, blur, JPEG
quality, the affine jitter and the flip are drawn ONCE per window and applied to all of its
frames. Only sensor noise is drawn independently per frame (real sensor noise is).
A horizontal flip turns a left eye into something that looks like a right eye, so it also
swaps the sample's `eye` index; its labels stay with it (it is still the same eye's closure).

Deterministic: the same `torch.Generator` state gives the same output.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch


@dataclass
class AugmentConfig:
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

    def __post_init__(self):
        for k, v in asdict(self).items():
            if k.endswith("_p") and not 0 <= v <= 1:
                raise ValueError(f"augment {k}: must be a probability in [0, 1], got {v!r}")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise ValueError(f"augment jpeg_quality: need 1 <= low <= high <= 100, got {self.jpeg_quality!r}")


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


class WindowAugment:
    """`aug(sample, generator) -> sample` on dataset items ({"frames": uint8 [T,3,S,S], "eye": ...})."""

    def __init__(self, cfg: AugmentConfig | None = None, **overrides):
        self.cfg = cfg or AugmentConfig(**overrides)

    def __repr__(self):
        return f"WindowAugment({self.cfg})"

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        # numpy + OpenCV (single-threaded) rather than torch ops: torch's intra-op threads on
        # 50 KB tensors cost more than the work, badly so on a busy machine.
        c, g = self.cfg, generator if generator is not None else torch.Generator().manual_seed(torch.seed() % 2**63)
        x = sample["frames"]
        if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"augment expects uint8 frames [T,3,S,S], got {x.dtype} {tuple(x.shape)}")
        out = dict(sample)
        t, s = x.shape[0], x.shape[-1]
        a = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))  # [T, S, S, 3] RGB
        if _u(g) < c.affine_p:
            ang = _u(g, -c.max_rotate_deg, c.max_rotate_deg)
            scale = 1 + _u(g, -c.max_scale, c.max_scale)
            tx, ty = (_u(g, -c.max_shift, c.max_shift) * s for _ in range(2))
            m = cv2.getRotationMatrix2D(((s - 1) / 2, (s - 1) / 2), ang, scale)
            m[:, 2] += (tx, ty)
            a = np.stack([cv2.warpAffine(f, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
                          for f in a])
        if _u(g) < c.flip_p:
            a = np.ascontiguousarray(a[:, :, ::-1])
            out["eye"] = 1 - sample["eye"]
        if _u(g) < c.color_p:
            mean_gray = float(a.reshape(-1, 3).mean(axis=0) @ _GRAY)
            cm = color_matrix(_u(g, 1 - c.brightness, 1 + c.brightness), _u(g, 1 - c.contrast, 1 + c.contrast),
                              _u(g, 1 - c.saturation, 1 + c.saturation), _u(g, -c.hue, c.hue), mean_gray)
            a = cv2.transform(a.reshape(t * s, s, 3).astype(np.float32), cm.astype(np.float32))
            a = np.clip(np.rint(a), 0, 255).astype(np.uint8).reshape(t, s, s, 3)
        if _u(g) < c.grayscale_p:
            gray = cv2.cvtColor(a.reshape(t * s, s, 3), cv2.COLOR_RGB2GRAY)
            a = np.repeat(gray.reshape(t, s, s, 1), 3, axis=3)
        if _u(g) < c.blur_p:
            sigma = _u(g, 0.1, c.max_blur_sigma)
            k = 2 * math.ceil(2.5 * sigma) + 1
            a = np.stack([cv2.GaussianBlur(f, (k, k), sigma) for f in a])
        if _u(g) < c.noise_p:
            std = _u(g, 0.5, c.max_noise_std)
            noise = torch.randn(a.shape, generator=g).numpy()  # independent per frame
            a = np.clip(np.rint(a + std * noise), 0, 255).astype(np.uint8)
        if _u(g) < c.jpeg_p:
            lo, hi = c.jpeg_quality
            q = int(torch.randint(lo, hi + 1, (), generator=g))
            a = np.stack([_jpeg(f, q) for f in a])
        out["frames"] = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
        return out
