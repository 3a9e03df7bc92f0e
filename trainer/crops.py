"""Eye crops from the corner landmarks: square, centred on the eye, corner line level, S x S RGB.

The crop box of one eye in one frame is (cx, cy, side, angle):
- centre: the midpoint of the two corners ("corners"), or the mean of corners and mid-lid
  points ("landmarks"; it follows the lid opening, so it moves during a blink; the default
  does not, which keeps the crop still while the lids move);
- side = scale x corner distance (the paper's 48 x 48 crops hold the eye plus a little lid
  and brow context; `scale` was chosen by looking at contact sheets of crops);
- angle: the image-space angle of the corner line, undone by the warp so the corners are level.
Boxes may be smoothed over the frames of a clip (`stabilize`) to remove landmark jitter in
real video. Coordinates follow the manifest convention: pixels, x right, y down, a pixel j
spanning [j, j + 1) (OpenCV puts pixel centres on integers, hence the 0.5 shifts below).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import cv2
import numpy as np

from manifests.eye_crop import DEFAULT_CROP_SCALE

cv2.setNumThreads(1)  # crops are tiny; DataLoader workers give the parallelism


class FrameReadError(OSError):
    """A frame image is missing, unreadable or not what the manifest says."""


@dataclass(frozen=True)
class CropConfig:
    size: int = 48            # output side in pixels: the paper's 48 x 48 crops
    scale: float = DEFAULT_CROP_SCALE  # side = scale x corner distance (manifests/eye_crop.py)
    center: str = "corners"   # "corners" (still during blinks) or "landmarks" (corners + mid lids)
    rotate: bool = True       # level the corner line so head roll does not reach the model
    stabilize: int = 0        # centred moving average of the box over this many frames; 0 = off
                              # (synthetic landmarks are exact; real-video landmarks jitter)

    def __post_init__(self):
        if int(self.size) != self.size or self.size < 8:
            raise ValueError(f"crop size: must be an integer >= 8, got {self.size!r}")
        if not (0.5 <= self.scale <= 8):
            raise ValueError(f"crop scale: must be in [0.5, 8], got {self.scale!r}")
        if self.center not in ("corners", "landmarks"):
            raise ValueError(f"crop center: must be 'corners' or 'landmarks', got {self.center!r}")
        if int(self.stabilize) != self.stabilize or self.stabilize < 0:
            raise ValueError(f"crop stabilize: must be an integer >= 0, got {self.stabilize!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 [H, W, 3]; FrameReadError naming the file if it cannot be read."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FrameReadError(f"{path}: frame image not found")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise FrameReadError(f"{path}: frame image is unreadable (corrupt or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def crop_boxes(outer: np.ndarray, inner: np.ndarray, cfg: CropConfig,
               upper: np.ndarray | None = None, lower: np.ndarray | None = None) -> np.ndarray:
    """Crop boxes [N, 4] = (cx, cy, side, angle_rad) from landmark arrays [N, 2] (manifest pixels).

    The angle is that of the corner line oriented left-to-right in the image, so an upright
    eye gets angle 0 whichever eye it is and the warp never mirrors it.
    """
    outer, inner = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    centre = (outer + inner) / 2
    if cfg.center == "landmarks":
        if upper is None or lower is None:
            raise ValueError("crop center 'landmarks' needs the upper and lower lid points")
        centre = (outer + inner + np.asarray(upper, np.float64) + np.asarray(lower, np.float64)) / 4
    d = inner - outer
    d = np.where(d[:, :1] < 0, -d, d)  # orient left -> right in the image
    side = cfg.scale * np.hypot(d[:, 0], d[:, 1])
    angle = np.arctan2(d[:, 1], d[:, 0]) if cfg.rotate else np.zeros(len(d))
    return np.stack([centre[:, 0], centre[:, 1], side, angle], axis=1)


def smooth_boxes(boxes: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average of the boxes of ONE clip over `k` frames (edges use what exists)."""
    if k <= 1 or len(boxes) <= 1:
        return boxes
    out = np.empty_like(boxes)
    half = k // 2
    for i in range(len(boxes)):  # clips are short; clarity over vectorisation
        seg = boxes[max(0, i - half): i + half + 1]
        out[i, :3] = seg[:, :3].mean(axis=0)
        # angles: average on the circle
        out[i, 3] = np.arctan2(np.sin(seg[:, 3]).mean(), np.cos(seg[:, 3]).mean())
    return out


def crop_eye(image: np.ndarray, box, size: int) -> np.ndarray:
    """Resample the square `box` = (cx, cy, side, angle) of `image` [H, W, 3] to uint8 [size, size, 3].

    Large downscales first shrink a region of interest with INTER_AREA (no aliasing), then one
    warpAffine does the rotation and the rest of the scale. Outside the image, edge pixels repeat.
    """
    cx, cy, side, angle = (float(v) for v in box)
    if not np.isfinite([cx, cy, side, angle]).all() or side <= 0:
        raise ValueError(f"invalid crop box {box!r} (missing landmarks?)")
    s = side / size  # source pixels per output pixel
    c, sn = np.cos(angle), np.sin(angle)
    rt = np.array([[c, sn], [-sn, c]]) / s          # R^T / s: source -> output, rotation undone
    centre_cv = np.array([cx - 0.5, cy - 0.5])      # manifest pixels -> OpenCV pixel-centre coords
    img = image
    if s > 1.5:
        h, w = image.shape[:2]
        r = side * 0.75 + 2  # > half diagonal of the box
        x0, y0 = max(int(cx - r), 0), max(int(cy - r), 0)
        x1, y1 = min(int(np.ceil(cx + r)), w), min(int(np.ceil(cy + r)), h)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            roi = image[y0:y1, x0:x1]
            nw, nh = max(2, round((x1 - x0) / s)), max(2, round((y1 - y0) / s))
            img = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
            f = np.array([nw / (x1 - x0), nh / (y1 - y0)])
            # a source point p maps to q = f * (p - o + 0.5) - 0.5 in the shrunk ROI
            centre_cv = f * (centre_cv - np.array([x0, y0]) + 0.5) - 0.5
            rt = rt / f[None, :]
    m = np.empty((2, 3))
    m[:, :2] = rt
    m[:, 2] = (size - 1) / 2 - rt @ centre_cv
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_image_eyes(path: str, boxes, size: int, expect_hw: tuple[int, int] | None = None,
                    return_rect: bool = False):
    """Read one frame and crop several eyes: uint8 [len(boxes), 3, size, size] (CHW, for torch);
    with return_rect, also the frame's rendered_rect (x0, y0, x1, y1)."""
    img = read_image(path)
    if expect_hw is not None and tuple(img.shape[:2]) != tuple(expect_hw):
        raise FrameReadError(f"{path}: image is {img.shape[1]}x{img.shape[0]} but the manifest says "
                             f"{expect_hw[1]}x{expect_hw[0]}")
    crops = np.stack([crop_eye(img, b, size).transpose(2, 0, 1) for b in boxes])
    return (crops, rendered_rect(img)) if return_rect else crops


def contact_sheet(crops: np.ndarray, cols: int = 13, pad: int = 2) -> np.ndarray:
    """Tile uint8 crops [N, 3, S, S] into one RGB image (for looking at them)."""
    n, _, s, _ = crops.shape
    rows = -(-n // cols)
    sheet = np.full((rows * (s + pad) + pad, cols * (s + pad) + pad, 3), 255, np.uint8)
    for i, c in enumerate(crops):
        r, q = divmod(i, cols)
        sheet[pad + r * (s + pad): pad + r * (s + pad) + s, pad + q * (s + pad): pad + q * (s + pad) + s] = c.transpose(1, 2, 0)
    return sheet


# ------------------------------------------------------------------ framing (domain randomisation)
def rendered_rect(image: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) in manifest pixels of the part of `image` that holds picture.

    Eye-region renders (generator.scene `eye_region`) leave everything outside a border box black
    (plus a sparse dither of near-black pixels); a crop reaching there would show the model a
    black band no real camera makes. Rows/columns count as rendered where more than half as many
    pixels are non-black as in the fullest row/column; a full-frame image gives the whole image.
    """
    h, w = image.shape[:2]
    lit = image.reshape(h, w, -1).max(axis=2) > 0
    rows, cols = lit.sum(axis=1), lit.sum(axis=0)
    if rows.max(initial=0) == 0:
        return np.array([0.0, 0.0, 0.0, 0.0])
    ys = np.flatnonzero(rows > rows.max() / 2)
    xs = np.flatnonzero(cols > cols.max() / 2)
    return np.array([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], np.float64)


def square_corners(boxes: np.ndarray, scale: float, offset: tuple[float, float], roll: float,
                   corner_scale: float) -> np.ndarray:
    """Image corners [N, 4, 2] of a framing square of side `scale` x corner distance, centred at
    `offset` (in corner distances, box axes) from each box centre and turned by `roll` radians
    against it. `boxes` [N, 4] are crop boxes (cx, cy, side, angle) of scale `corner_scale`."""
    b = np.asarray(boxes, np.float64)
    d = b[:, 2] / corner_scale  # corner distance in pixels
    h = scale / 2
    cr, sr = np.cos(roll), np.sin(roll)
    local = np.array([[-h, -h], [h, -h], [h, h], [-h, h]]) @ np.array([[cr, sr], [-sr, cr]]) + offset  # box axes
    ca, sa = np.cos(b[:, 3]), np.sin(b[:, 3])
    x = b[:, None, 0] + d[:, None] * (local[None, :, 0] * ca[:, None] - local[None, :, 1] * sa[:, None])
    y = b[:, None, 1] + d[:, None] * (local[None, :, 0] * sa[:, None] + local[None, :, 1] * ca[:, None])
    return np.stack([x, y], axis=2)


def framing_fits(boxes: np.ndarray, rects: np.ndarray, scale: float, offset, roll: float,
                 corner_scale: float, context_scale: float) -> bool:
    """Whether a framing square lies inside the rendered rect of every frame ([N, 4] each) and
    inside the cached context crop (side `context_scale` x corner distance, box-aligned)."""
    local = square_corners(np.array([[0.0, 0.0, corner_scale, 0.0]]), scale, offset, roll, corner_scale)[0]
    if np.abs(local).max() > context_scale / 2 + 1e-9:
        return False
    pts = square_corners(boxes, scale, offset, roll, corner_scale)
    r = np.asarray(rects, np.float64)[:, None, :]
    return bool(((pts[..., 0] >= r[..., 0]) & (pts[..., 0] <= r[..., 2])
                 & (pts[..., 1] >= r[..., 1]) & (pts[..., 1] <= r[..., 3])).all())


def cut_framing(context: np.ndarray, context_scale: float, scale: float, offset=(0.0, 0.0),
                roll: float = 0.0, size: int = 48) -> np.ndarray:
    """Cut a framing square out of box-aligned context crops [T, C, C, 3] (side `context_scale`
    x corner distance): side `scale` x corner distance, centre `offset` (corner distances, box
    axes), turned by `roll` radians; resampled to [T, size, size, 3]. The nominal crop
    (scale = the crop scale, no offset or roll) of a context cached at size x context/scale
    pixels is a plain centre cut."""
    c = context.shape[1]
    px = c / context_scale                      # context pixels per corner distance
    step = scale * px / size                    # context pixels per output pixel
    cr, sr = np.cos(roll), np.sin(roll)
    # output pixel u -> context pixel: centre + px * offset + step * R(roll) (u - centre_out)
    m = np.array([[cr, -sr], [sr, cr]]) * step
    t = (c - 1) / 2 + px * np.asarray(offset, np.float64) - m @ np.full(2, (size - 1) / 2)
    src = context
    if step > 1.25:  # shrinking: low-pass first, as INTER_AREA would (warpAffine has no area mode)
        sigma = 0.5 * np.sqrt(step ** 2 - 1)
        k = 2 * int(np.ceil(2 * sigma)) + 1
        src = np.stack([cv2.GaussianBlur(f, (k, k), sigma) for f in context])
    warp = np.concatenate([m, t[:, None]], axis=1)
    return np.stack([cv2.warpAffine(f, warp, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REPLICATE) for f in src])
