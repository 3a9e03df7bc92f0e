"""Pack an eye-region dataset small enough to carry to another machine (e.g. under 64 MiB).

    python bench/pack_eye_dataset.py SRC DST

Copies frames.csv, clips.csv and config.json, and re-encodes every frame PNG with the part an
eye-region render leaves unrendered (outside trainer.crops.rendered_rect: black plus a sparse
dither) set to exact black, at PNG compression 9. Lossless inside the rendered box, which holds
every pixel the trainer's crops and framing may read (they never leave it), so a model trains
the same on the pack. 240 clips of configs/eye_crops.json: about 31 MB instead of 50 MB.
The split columns travel in the CSVs; caches (.cache/) are not copied (they rebuild in seconds).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manifests.atomic import atomic_dir  # noqa: E402
from trainer.crops import rendered_rect  # noqa: E402


def pack_frame(src: Path, dst: Path) -> int:
    img = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"{src}: unreadable image")
    x0, y0, x1, y1 = (int(v) for v in rendered_rect(img if img.ndim == 3 else img[..., None]))
    out = np.zeros_like(img)
    out[y0:y1, x0:x1] = img[y0:y1, x0:x1]
    dst.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", out, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OSError(f"{src}: cannot encode")
    dst.write_bytes(buf.tobytes())
    return len(buf)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args(argv)
    src, dst = Path(a.src), Path(a.dst)
    if not (src / "frames.csv").is_file():
        print(f"error: {src}/frames.csv not found (not a dataset directory)", file=sys.stderr)
        return 2
    if dst.exists():
        print(f"error: {dst} exists; pack into a new folder", file=sys.stderr)
        return 2
    import pandas as pd

    frames = pd.read_csv(src / "frames.csv", usecols=["image"])
    total = 0
    with atomic_dir(dst) as tmp_dir:  # the pack appears whole or not at all
        tmp = Path(tmp_dir)
        for name in ("frames.csv", "clips.csv", "config.json"):
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
                total += (src / name).stat().st_size
        for rel in frames["image"].astype(str):
            total += pack_frame(src / rel, tmp / rel)
    print(f"{dst}: {len(frames)} frames, {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
