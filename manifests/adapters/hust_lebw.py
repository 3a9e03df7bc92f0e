"""Adapter: HUST-LEBW (eyeblink in the wild, 673 samples from movies) -> a SynBlink dataset.

ASSUMED LAYOUT (the dataset itself could not be inspected; this is the layout the public
BlinkFormer/HUST-LEBW loaders read, e.g. `{root}/{folder}/13/zuo/*.bmp` with labels from
`train_data.json` / `test_data.json`)::

    SRC/train_data.json          {"<sample folder, relative to SRC>": 1 (blink) | 0 (non-blink), ...}
    SRC/test_data.json
    SRC/<sample>/13/zuo/*.bmp    13 crops of the eye on the IMAGE's left  (zuo = left)
    SRC/<sample>/13/you/*.bmp    13 crops of the eye on the IMAGE's right (you = right)

Without the JSON files, samples are found by walking SRC for `13/zuo` / `13/you` folders; the
label comes from a path part named `blink` (1) or `non blink` / `non-blink` / `nonblink` /
`non_blink` (0) and the split from a part named `train` / `test`. Frames are ordered by the
first integer in their file name.

zuo / you are image sides. In a frontal image the subject's RIGHT eye is on the image's left,
so zuo -> `right_*` columns and you -> `left_*` (the manifest's left/right are the subject's).
Each (sample, eye) becomes one clip of its own crops (`<sample>__right`, `<sample>__left`),
with the other eye not visible; both clips of a sample share subject_id = the sample, so a
subject-disjoint split keeps them together. The crop is the eye: corners at the middle of the
image's side edges. blink = the sample's label; per-frame closure / phase are unknown (empty).
Frames of one sequence are resized to its first frame's size when they differ (clip-level
width/height must be constant); dataset.json lists any such sequence.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import cv2

from manifests import schema
from manifests.adapters.common import (AdapterError, clips_table, crop_eye_row, dataset_output,
                                       frames_table, read_image_bgr, save_png, write_dataset)

SIDE_TO_EYE = {"zuo": "right", "you": "left"}  # image side -> subject's eye
LABEL_FILES = {"train": "train_data.json", "test": "test_data.json"}
NEGATIVE_NAMES = {"non blink", "non-blink", "nonblink", "non_blink", "non-eyeblink", "non eyeblink"}
POSITIVE_NAMES = {"blink", "eyeblink"}


def _frame_number(path: Path) -> int:
    m = re.search(r"\d+", path.stem)
    if not m:
        raise AdapterError(path, "frame file name holds no frame number")
    return int(m.group())


def _samples_from_json(src: Path, window: int):
    out = []
    for split, name in LABEL_FILES.items():
        path = src / name
        if not path.exists():
            continue
        try:
            labels = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AdapterError(path, f"not valid JSON: {e}") from None
        if not isinstance(labels, dict):
            raise AdapterError(path, "expected an object {sample folder: 0 or 1}")
        for folder, label in labels.items():
            if label not in (0, 1):
                raise AdapterError(path, f"sample {folder!r}: label must be 0 or 1, got {label!r}")
            out.append((folder, int(label), split, src / folder / str(window)))
    return out


def _samples_from_walk(src: Path, window: int):
    out = []
    for seq_dir in sorted(p for p in src.rglob(str(window)) if p.is_dir()):
        if not any((seq_dir / side).is_dir() for side in SIDE_TO_EYE):
            continue
        parts = [p.lower() for p in seq_dir.relative_to(src).parts[:-1]]
        label = 0 if any(p in NEGATIVE_NAMES for p in parts) else 1 if any(p in POSITIVE_NAMES for p in parts) else None
        if label is None:
            raise AdapterError(seq_dir, "cannot tell blink from non-blink: no path part named "
                                        "'blink' or 'non blink' and no train_data.json/test_data.json")
        split = next((p for p in parts if p in LABEL_FILES), None)
        out.append((seq_dir.parent.relative_to(src).as_posix(), label, split, seq_dir))
    return out


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def convert(src, out, window: int = 13) -> Path:
    """Convert HUST-LEBW at `src` into a new dataset directory `out`; returns `out`."""
    src = Path(src)
    if not src.is_dir():
        raise AdapterError(src, "source folder not found")
    samples = _samples_from_json(src, window) or _samples_from_walk(src, window)
    if not samples:
        raise AdapterError(src, f"no samples: neither {' / '.join(LABEL_FILES.values())} nor "
                                f"<sample>/{window}/zuo|you folders found")
    frames, clips, missing, resized = [], [], [], []
    with dataset_output(out) as tmp:
        for folder, label, split, seq_dir in samples:
            subject = _safe(folder)
            for side, eye in SIDE_TO_EYE.items():
                eye_dir = seq_dir / side
                files = sorted((p for p in eye_dir.glob("*") if p.suffix.lower() in schema.IMAGE_EXTENSIONS),
                               key=_frame_number) if eye_dir.is_dir() else []
                if not files:
                    missing.append(f"{folder}/{window}/{side}")
                    continue
                clip_id = f"{subject}__{eye}"
                size = None
                for t, path in enumerate(files):
                    img = read_image_bgr(path)
                    if size is None:
                        size = (img.shape[1], img.shape[0])
                    elif (img.shape[1], img.shape[0]) != size:
                        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                        if clip_id not in resized:
                            resized.append(clip_id)
                    rel = schema.frame_image_path(clip_id, t)
                    save_png(img, tmp / rel)
                    row = {"clip_id": clip_id, "frame": t, "image": rel, "width": size[0],
                           "height": size[1], "subject_id": subject, "blink": label, "split": split}
                    row.update(crop_eye_row(eye, *size))
                    frames.append(row)
                clips.append({"clip_id": clip_id, "subject_id": subject, "n_frames": len(files),
                              "width": size[0], "height": size[1], "blink": label, "split": split,
                              "sample": folder, "image_side": side,
                              "source": eye_dir.relative_to(src).as_posix()})
        if not frames:
            raise AdapterError(src, "samples found but no eye images in their zuo/you folders")
        write_dataset(tmp, frames_table(frames), clips_table(clips), {
            "adapter": "hust_lebw", "source": str(src.resolve()), "window": window,
            "eyes": "zuo (image left) -> right eye, you (image right) -> left eye (subject's sides)",
            "missing_sequences": missing, "resized_sequences": resized,
        })
    return Path(out)
