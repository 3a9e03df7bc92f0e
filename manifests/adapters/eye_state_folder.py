"""Adapter: a folder of single eye crops in class subfolders -> a SynBlink dataset.

    SRC/Open/*.jpg, SRC/Closed/*.jpg   (folder names case-insensitive; other subfolders ignored)

Each image becomes a 1-frame clip: frames/<clip_id>/0000.jpg, the source JPEG copied byte for
byte, or frames/<clip_id>/0000.png re-encoded when the source is not a 3-channel JPEG (some .jpg
files are really PNG, some RGBA: alpha is composited over white). The crop IS the eye, so the eye corners are the middle of the
left and right image edges. Which eye it is is not known: it is stored as the `left` eye, with
`right_visible` 0. closure is 0 for Open and 1 for Closed; phase, blink_id, blink, fps and
subject_id are unknown (empty): a closed eye in a photo is not a blink, and there is no timing.
Use: zero-shot evaluation of eye-closure accuracy. Never train on it.
"""
from __future__ import annotations

import re
from pathlib import Path

from manifests import schema
from manifests.adapters.common import (AdapterError, clips_table, crop_eye_row, dataset_output,
                                       frames_table, read_image_bgr, store_frame, write_dataset)

CLASS_CLOSURE = {"open": 0.0, "closed": 1.0}
EYE = "left"  # the side of a lone crop is unknown; one side keeps one sample per image


def _clip_id(cls: str, path: Path, taken: set) -> str:
    base = f"{cls}_{re.sub(r'[^A-Za-z0-9_-]+', '-', path.stem)}"
    clip_id, n = base, 1
    while clip_id in taken:
        clip_id, n = f"{base}-{n}", n + 1
    taken.add(clip_id)
    return clip_id


def convert(src, out) -> Path:
    """Convert the folder `src` into a new dataset directory `out`; returns `out`."""
    src = Path(src)
    if not src.is_dir():
        raise AdapterError(src, "source folder not found")
    classes = {d.name.lower(): d for d in sorted(src.iterdir()) if d.is_dir()}
    found = {c: classes[c] for c in CLASS_CLOSURE if c in classes}
    if not found:
        raise AdapterError(src, "no class subfolders " + "/".join(n.title() for n in CLASS_CLOSURE)
                           + f" (found: {', '.join(sorted(classes)) or 'none'})")
    frames, clips, taken = [], [], set()
    with dataset_output(out) as tmp:
        for cls, folder in found.items():
            images = sorted(p for p in folder.iterdir() if p.suffix.lower() in schema.IMAGE_EXTENSIONS)
            for path in images:
                img = read_image_bgr(path)
                h, w = img.shape[:2]
                clip_id = _clip_id(cls, path, taken)
                stem = Path(schema.frame_image_path(clip_id, 0)).with_suffix("")
                rel = store_frame(path, img, tmp / stem).relative_to(tmp).as_posix()
                row = {"clip_id": clip_id, "frame": 0, "image": rel, "width": w, "height": h,
                       f"{EYE}_closure": CLASS_CLOSURE[cls]}
                row.update(crop_eye_row(EYE, w, h))
                frames.append(row)
                clips.append({"clip_id": clip_id, "n_frames": 1, "width": w, "height": h,
                              "label": folder.name, "source": path.relative_to(src).as_posix()})
        if not frames:
            raise AdapterError(src, "no images found in the class subfolders")
        write_dataset(tmp, frames_table(frames), clips_table(clips), {
            "adapter": "eye_state_folder", "source": str(src.resolve()),
            "classes": {c: f.name for c, f in found.items()},
            "ignored_subfolders": sorted(set(classes) - set(found)),
            "eye": f"each crop is stored as the '{EYE}' eye; its real side is unknown",
            "use": "evaluation only; never train on it",
        })
    return Path(out)
