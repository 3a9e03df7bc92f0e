"""What every adapter shares: image normalisation, single-eye-crop rows, atomic dataset output."""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from manifests import schema
from manifests.atomic import atomic_dir
from manifests.io import ManifestError, ordered_columns, write_csv


class AdapterError(ManifestError):
    pass


def read_image_bgr(path: Path) -> np.ndarray:
    """Any image cv2 decodes, by content not by extension (some .jpg files are PNG), as 8-bit BGR.
    Transparent pixels are composited over white; grey images get three channels."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise AdapterError(path, "not a readable image")
    if img.dtype != np.uint8:
        img = (img / (np.iinfo(img.dtype).max / 255.0)).astype(np.uint8) if img.dtype.kind == "u" \
            else cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return img


def store_frame(src: Path, img: np.ndarray, dst_no_suffix: Path) -> Path:
    """Put one frame into the dataset: a real 3-channel JPEG is copied byte for byte (no second
    lossy encoding, 4x smaller than PNG); anything else is written as PNG from `img`.
    Returns the path written (with its suffix)."""
    with open(src, "rb") as f:
        is_jpeg = f.read(3) == b"\xff\xd8\xff"
    if is_jpeg and img.ndim == 3 and img.shape[2] == 3:
        raw = cv2.imdecode(np.fromfile(str(src), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if raw is not None and raw.ndim == 3 and raw.shape[2] == 3:
            dst = dst_no_suffix.with_suffix(".jpg")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            return dst
    dst = dst_no_suffix.with_suffix(".png")
    save_png(img, dst)
    return dst


def save_png(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise AdapterError(path, "could not write image")


def crop_eye_row(eye: str, width: int, height: int) -> dict:
    """Per-eye columns of an image that IS one eye crop: corners at the middle of the left and
    right image edges (so an eye-crop feature takes the whole image), closure etc. unknown,
    and the other eye marked not visible. Which corner is outer depends on the eye side:
    the subject's right eye has its outer corner on the image left."""
    row = {}
    left_x, right_x = 0.0, float(width)
    outer_x, inner_x = (left_x, right_x) if eye == "right" else (right_x, left_x)
    row[f"{eye}_outer_x"], row[f"{eye}_outer_y"] = outer_x, height / 2.0
    row[f"{eye}_inner_x"], row[f"{eye}_inner_y"] = inner_x, height / 2.0
    row[f"{eye}_visible"] = 1
    other = "left" if eye == "right" else "right"
    row[f"{other}_visible"] = 0
    return row


def _table(rows: list, required, order) -> pd.DataFrame:
    """Rows -> table with every required column present (unknown = empty), contract order."""
    df = pd.DataFrame(rows)
    for col in required:
        if col not in df.columns:
            df[col] = pd.NA
    return df[ordered_columns(df.columns, order)]


def frames_table(rows: list) -> pd.DataFrame:
    return _table(rows, schema.FRAME_REQUIRED_COLUMNS, schema.FRAME_COLUMNS)


def clips_table(rows: list) -> pd.DataFrame:
    return _table(rows, schema.CLIP_REQUIRED_COLUMNS, schema.CLIP_COLUMNS)


@contextlib.contextmanager
def dataset_output(out):
    """Yield a temporary directory next to `out`; on success it becomes `out` in one rename, on
    failure it is removed: a half-converted dataset never appears. `out` must not exist yet
    (or be an empty directory)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AdapterError(out, "output exists and is not an empty directory; choose a new one")
    with atomic_dir(out) as tmp:
        yield Path(tmp)


def write_dataset(root: Path, frames: pd.DataFrame, clips: pd.DataFrame, info: dict) -> None:
    (root / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
    write_csv(clips, root / schema.CLIPS_CSV)
    write_csv(frames, root / schema.FRAMES_CSV)
