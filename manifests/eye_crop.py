"""The eye crop square the generator and the trainer agree on (standard library only).

The trainer (trainer/crops.py) cuts each eye as a square of side ``scale x corner distance``,
centred on the midpoint of the two corners and rotated with the corner line. An eye-region
dataset (config render.eye_region) renders only a border around the eyes, black elsewhere, so
the border must hold every crop the trainer may take: the dataset's config.json records the
largest scale its border holds (render.eye_region_crop_scale; the generator grows the border to
``crop_square_bounds`` of that scale), and the trainer refuses a larger crop on such a dataset
(``check_dataset_holds_crop``) instead of silently training on crops cut by black bars.
A trainer that randomises its framing must check with the largest scale it may draw.
"""
from __future__ import annotations

import json
import math
import os

from manifests.schema import DATASET_CONFIG_JSON

DEFAULT_CROP_SCALE = 1.6  # trainer.crops.CropConfig.scale: the eye + a little lid/brow context (looked at)
# Eye-region datasets written before the scale was recorded held exactly the default crop.
UNRECORDED_BORDER_SCALE = 1.6


def crop_square_bounds(outer, inner, scale: float, pad_px: float = 0.0):
    """Axis-aligned (x0, y0, x1, y1) that holds the crop square of one eye at any rotation of
    its corner line: ``outer``/``inner`` are (x, y) corners in manifest pixels."""
    dx, dy = inner[0] - outer[0], inner[1] - outer[1]
    half = 0.5 * scale * (abs(dx) + abs(dy)) + pad_px  # half extent of the square, rotated with the corners
    cx, cy = (outer[0] + inner[0]) / 2, (outer[1] + inner[1]) / 2
    return cx - half, cy - half, cx + half, cy + half


def border_crop_scale(dataset_dir) -> float | None:
    """The largest crop scale the eye-region border of dataset ``dataset_dir`` holds; None when
    the frames are full frames (not eye-region) or the dataset has no config.json (real data)."""
    path = os.path.join(os.fspath(dataset_dir), DATASET_CONFIG_JSON)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            render = json.load(f)["config"]["render"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read config.render ({exc})") from None
    if not render.get("eye_region", False):
        return None
    scale = render.get("eye_region_crop_scale", UNRECORDED_BORDER_SCALE)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"{path}: config.render.eye_region_crop_scale must be a number, got {scale!r}")
    return float(scale)


def check_dataset_holds_crop(dataset_dir, crop_scale: float) -> None:
    """ValueError when the trainer's crop (side ``crop_scale`` x corner distance) is larger than
    what the eye-region border of ``dataset_dir`` holds."""
    held = border_crop_scale(dataset_dir)
    if held is not None and crop_scale > held + 1e-9:
        raise ValueError(
            f"{os.path.join(os.fspath(dataset_dir), DATASET_CONFIG_JSON)}: eye-region frames hold crops up to "
            f"scale {held:g} (render.eye_region_crop_scale) but the crop scale is {crop_scale:g}: the crops "
            f"would be cut by the black border; lower the crop scale or re-render with "
            f"--set render.eye_region_crop_scale={crop_scale:g}")
