"""Adapter: the original SynBlink-50K (Liu, Xu and Lu, BMVC 2023) clip folders -> a SynBlink dataset.

LAYOUT (the dataset's README)::

    SRC/<clip>/01.png ... 13.png       13 frames of one clip
    SRC/<clip>/annotations.json        {"01": {"L_Eye_Left": [x, y], "L_Eye_Right": [x, y],
                                                "L_Eye_Center": [x, y], "R_Eye_Left": ..., "R_Eye_Right": ...,
                                                "R_Eye_Center": ..., "Blink_Strength": 0..1}, ...}
    SRC/train_data.json, val_data.json, test_data.json   optional: {"<clip>": 0 | 1} (split + label)

Clip folders may sit under SRC/data/ (the BlinkFormer loader's layout); they are found by their
annotations.json. Folder names read F|M_<person>_<video>_BL|NB_<background>_<light>: BL = blink
(when no split JSON gives the label), the person id is the subject. Blink_Strength (0 open .. 1
closed) is the closure of both eyes. *_Eye_Left / *_Eye_Right are the eye's image-left and
image-right corners; which eye is the subject's right is decided by position (the one further to
the image's left, frontal faces), so its outer corner is its image-left one. Eye centres are not
used (the manifest has no such point). Phase and blink_id are unknown (empty).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from manifests import schema
from manifests.adapters.common import (AdapterError, clips_table, dataset_output, frames_table, read_image_bgr,
                                       store_frame, write_dataset)

SPLIT_FILES = {"train": "train_data.json", "val": "val_data.json", "test": "test_data.json"}
NAME = re.compile(r"^(?P<sex>[FM])_(?P<person>\d+)_(?P<video>\d+)_(?P<label>BL|NB)_", re.IGNORECASE)
POINTS = ("Eye_Left", "Eye_Right")


def _split_labels(src: Path) -> dict:
    out = {}
    for split, name in SPLIT_FILES.items():
        path = src / name
        if not path.is_file():
            continue
        try:
            labels = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AdapterError(path, f"not valid JSON: {e}") from None
        if not isinstance(labels, dict) or any(v not in (0, 1) for v in labels.values()):
            raise AdapterError(path, "expected an object {clip folder: 0 or 1}")
        out.update({k: (split, int(v)) for k, v in labels.items()})
    return out


def _point(ann: dict, key: str, path: Path, frame: str) -> tuple[float, float]:
    v = ann.get(key)
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(c, (int, float)) for c in v)):
        raise AdapterError(path, f"frame {frame}: {key} must be [x, y], got {v!r}")
    return float(v[0]), float(v[1])


def convert(src, out) -> Path:
    src = Path(src)
    if not src.is_dir():
        raise AdapterError(src, "source folder not found")
    folders = sorted(p.parent for p in src.rglob("annotations.json"))
    if not folders:
        raise AdapterError(src, "no clip folders (<clip>/annotations.json) found")
    labels = _split_labels(src)
    frames, clips = [], []
    with dataset_output(out) as tmp:
        for folder in folders:
            ann_path = folder / "annotations.json"
            try:
                ann = json.loads(ann_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise AdapterError(ann_path, f"not valid JSON: {e}") from None
            keys = sorted(ann, key=lambda k: int(k) if str(k).isdigit() else -1)
            if not keys or not all(str(k).isdigit() for k in keys):
                raise AdapterError(ann_path, "expected frame keys '01', '02', ...")
            name = folder.name
            m = NAME.match(name)
            split, label = labels.get(name, (None, None))
            if label is None and m:
                label = int(m["label"].upper() == "BL")
            subject = f"{m['sex'].upper()}_{m['person']}" if m else name
            pts = {k: {f"{side}_{p}": _point(ann[k], f"{side}_{p}", ann_path, k) for side in "LR" for p in POINTS}
                   for k in keys}
            l_x = np.mean([pts[k]["L_Eye_Left"][0] + pts[k]["L_Eye_Right"][0] for k in keys])
            r_x = np.mean([pts[k]["R_Eye_Left"][0] + pts[k]["R_Eye_Right"][0] for k in keys])
            side_of = {"right": "L", "left": "R"} if l_x < r_x else {"right": "R", "left": "L"}
            size = None
            for t, k in enumerate(keys):
                image = folder / f"{k}.png"
                if not image.is_file():
                    raise AdapterError(image, "frame image listed in annotations.json is missing")
                img = read_image_bgr(image)
                if size is None:
                    size = (img.shape[1], img.shape[0])
                elif (img.shape[1], img.shape[0]) != size:
                    raise AdapterError(image, f"frame is {img.shape[1]}x{img.shape[0]}, the clip's first is {size[0]}x{size[1]}")
                strength = ann[k].get("Blink_Strength")
                if not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
                    raise AdapterError(ann_path, f"frame {k}: Blink_Strength must be in [0, 1], got {strength!r}")
                dst = store_frame(image, img, tmp / schema.frame_image_path(name, t)[:-4])
                row = {"clip_id": name, "frame": t, "image": dst.relative_to(tmp).as_posix(), "width": size[0],
                       "height": size[1], "subject_id": subject, "blink": label, "split": split}
                for eye, side in side_of.items():
                    left, right = pts[k][f"{side}_Eye_Left"], pts[k][f"{side}_Eye_Right"]
                    outer, inner = (left, right) if eye == "right" else (right, left)
                    row.update({f"{eye}_closure": float(strength), f"{eye}_outer_x": outer[0], f"{eye}_outer_y": outer[1],
                                f"{eye}_inner_x": inner[0], f"{eye}_inner_y": inner[1], f"{eye}_visible": 1})
                frames.append(row)
            clips.append({"clip_id": name, "subject_id": subject, "n_frames": len(keys), "width": size[0],
                          "height": size[1], "blink": label, "split": split,
                          "source": folder.relative_to(src).as_posix()})
        write_dataset(tmp, frames_table(frames), clips_table(clips), {
            "adapter": "synblink50k", "source": str(src.resolve()),
            "eyes": "L_/R_ assigned by position: the eye further to the image's left is the subject's right",
            "closure": "Blink_Strength, both eyes"})
    return Path(out)
