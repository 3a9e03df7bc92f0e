"""Adapter: RT-BENE (Cortacero, Fischer and Demiris, ICCVW 2019) eye crops -> a SynBlink dataset.

LAYOUT (as the RT-BENE training code reads it)::

    SRC/s000_blink_labels.csv                 no header; rows `left_<name>,<label>`: label 0 open,
                                              1 closed, 0.5 uncertain (the paper drops those)
    SRC/s000_noglasses/natural/left/left_<name>     the subject's left eye crop of that frame
    SRC/s000_noglasses/natural/right/right_<name>   the subject's right eye crop

<name> holds the frame number (its first integer). Each (subject, eye) and each run of
consecutive frame numbers is one clip of that eye's crops (the crop IS the eye: corners at the
middle of its side edges), frames renumbered from 0, the other eye not visible; closure 0 / 1
for open / closed and empty for uncertain. blink, phase and blink_id are unknown (empty): a
closed frame is not told apart from a held closure here. subject_id = s000, ...
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2

from manifests import schema
from manifests.adapters.common import (AdapterError, clips_table, crop_eye_row, dataset_output, frames_table,
                                       read_image_bgr, store_frame, write_dataset)

LABELS = re.compile(r"^(s\d+)_blink_labels\.csv$")
CLOSURE = {0.0: 0.0, 1.0: 1.0, 0.5: None}


def _frame_number(name: str, path: Path, line: int) -> int:
    m = re.search(r"\d+", name)
    if not m:
        raise AdapterError(path, f"line {line}: image name {name!r} holds no frame number")
    return int(m.group())


def _read_labels(path: Path) -> list[tuple[str, int, float | None]]:
    rows = []
    for k, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not text.strip():
            continue
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < 2 or not parts[0].startswith("left_"):
            raise AdapterError(path, f"line {k}: expected 'left_<image name>,<label>', got {text!r}")
        try:
            label = float(parts[1])
        except ValueError:
            raise AdapterError(path, f"line {k}: label must be 0, 0.5 or 1, got {parts[1]!r}") from None
        if label not in CLOSURE:
            raise AdapterError(path, f"line {k}: label must be 0, 0.5 or 1, got {parts[1]!r}")
        name = parts[0][len("left_"):]
        rows.append((name, _frame_number(name, path, k), CLOSURE[label]))
    return rows


def convert(src, out) -> Path:
    src = Path(src)
    if not src.is_dir():
        raise AdapterError(src, "source folder not found")
    label_files = sorted(p for p in src.iterdir() if LABELS.match(p.name))
    if not label_files:
        raise AdapterError(src, "no sNNN_blink_labels.csv files found")
    frames, clips, missing = [], [], 0
    with dataset_output(out) as tmp:
        for label_file in label_files:
            subject = LABELS.match(label_file.name).group(1)
            crops_dir = src / f"{subject}_noglasses" / "natural"
            rows = sorted(_read_labels(label_file), key=lambda r: r[1])
            for eye in schema.EYES:
                clip_rows, prev = [], None
                runs = []
                for name, number, closure in rows:
                    image = crops_dir / eye / f"{eye}_{name}"
                    if not image.is_file():
                        missing += 1
                        prev = None  # a missing crop ends the run
                        continue
                    if prev is None or number != prev + 1:
                        clip_rows = []
                        runs.append(clip_rows)
                    clip_rows.append((image, number, closure))
                    prev = number
                for k, run in enumerate(runs):
                    clip_id = f"{subject}_{eye}_{k:03d}"
                    size = None
                    for t, (image, number, closure) in enumerate(run):
                        img = read_image_bgr(image)
                        if size is None:
                            size = (img.shape[1], img.shape[0])
                        elif (img.shape[1], img.shape[0]) != size:
                            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                        dst = store_frame(image, img, tmp / schema.frame_image_path(clip_id, t)[:-4])
                        row = {"clip_id": clip_id, "frame": t, "image": dst.relative_to(tmp).as_posix(), "width": size[0],
                               "height": size[1], "subject_id": subject, f"{eye}_closure": closure}
                        row.update(crop_eye_row(eye, *size))
                        frames.append(row)
                    clips.append({"clip_id": clip_id, "subject_id": subject, "n_frames": len(run), "width": size[0],
                                  "height": size[1], "first_source_frame": run[0][1], "eye": eye})
        if not frames:
            raise AdapterError(src, "labels found but none of their eye crops (sNNN_noglasses/natural/left|right/)")
        write_dataset(tmp, frames_table(frames), clips_table(clips), {
            "adapter": "rt_bene", "source": str(src.resolve()), "missing_crops": missing,
            "closure": "0 open, 1 closed, empty = uncertain (label 0.5)"})
    return Path(out)
