"""A crop cache: every (frame, eye) crop of a manifest cut once and kept as one uint8 array on disk.

Layout: `<cache_dir>/crops-<key>/crops.npy` (uint8 [n_rows, n_eyes, 3, S, S], row i = row i of
frames.csv as read) and `meta.json`. The key hashes the frames.csv CONTENT, the crop
parameters, the eyes and the cache format, so editing the manifest or changing a crop
parameter selects a new cache and an unchanged one is reused. (Frame images are assumed
immutable once written, as the generator's writers guarantee; re-rendering changes frames.csv.)

A build writes into a private temporary directory and renames it into place only when
complete, so an interrupted build never leaves a cache that looks valid, and two processes
building at once both end up reading one complete cache. Readers open the array with
`mmap_mode="r"`, which is safe to share between DataLoader worker processes (each one opens
its own map; nothing is written after the rename).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from manifests.atomic import atomic_dir
from trainer.crops import CropConfig, crop_image_eyes

CACHE_FORMAT = 3  # bump when the array layout or the crop code changes meaning (3: + rects.npy)


def file_digest(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def cache_key(manifest_digest: str, cfg: CropConfig, eyes: tuple[str, ...]) -> str:
    payload = json.dumps({"manifest": manifest_digest, "crop": cfg.to_dict(), "eyes": list(eyes),
                          "format": CACHE_FORMAT}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _crop_rows(args):
    paths, hws, boxes, valid, size = args
    out = np.zeros((len(paths), boxes.shape[1], 3, size, size), np.uint8)
    rects = np.zeros((len(paths), 4), np.float32)
    for i, (p, hw) in enumerate(zip(paths, hws)):
        if valid[i].any():  # an eye without landmarks in this frame stays zero and is never served
            ok = np.flatnonzero(valid[i])
            out[i, ok], rects[i] = crop_image_eyes(os.fsdecode(p), boxes[i, ok], size, return_rect=True,
                                                   expect_hw=None if hw is None else tuple(int(v) for v in hw))
    return out, rects


def build_cache(path: str, image_paths, image_hw, boxes: np.ndarray,
                valid: np.ndarray, cfg: CropConfig, meta: dict, workers: int = 0, progress: bool = True) -> str:
    """Crop every row into `path` (a directory), atomically. Returns `path`.

    image_paths: N paths (str or bytes); image_hw: [N, 2] expected (height, width) or None.
    boxes: [N, E, 4] crop boxes; valid: [N, E] bool (False: no landmarks, left zero).
    workers: processes to crop with (0: this process).
    """
    n, n_eyes = boxes.shape[:2]
    try:
        with atomic_dir(path) as tmp:
            arr = np.lib.format.open_memmap(os.path.join(tmp, "crops.npy"), mode="w+", dtype=np.uint8,
                                            shape=(n, n_eyes, 3, cfg.size, cfg.size))
            # the rendered part of each frame (crops.rendered_rect): framing augmentation stays inside it
            rects = np.zeros((n, 4), np.float32)
            chunk = 256
            jobs = [(image_paths[a:a + chunk], (image_hw[a:a + chunk] if image_hw is not None else [None] * len(image_paths[a:a + chunk])),
                     boxes[a:a + chunk], valid[a:a + chunk], cfg.size) for a in range(0, n, chunk)]
            bar = None
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=n, desc=f"crop cache {os.path.basename(path)}", unit="frame", leave=False)
            t0 = time.time()
            if workers > 0:
                with ProcessPoolExecutor(workers) as pool:
                    results = pool.map(_crop_rows, jobs)
                    for a, (res, rect) in zip(range(0, n, chunk), results):
                        arr[a:a + len(res)], rects[a:a + len(res)] = res, rect
                        bar and bar.update(len(res))
            else:
                for a, job in zip(range(0, n, chunk), jobs):
                    res, rect = _crop_rows(job)
                    arr[a:a + len(res)], rects[a:a + len(res)] = res, rect
                    bar and bar.update(len(res))
            bar and bar.close()
            arr.flush()
            del arr
            np.save(os.path.join(tmp, "rects.npy"), rects)
            with open(os.path.join(tmp, "meta.json"), "w") as f:
                json.dump({**meta, "rows": n, "eyes_per_row": n_eyes, "crop": cfg.to_dict(),
                           "format": CACHE_FORMAT, "build_seconds": round(time.time() - t0, 3)}, f, indent=1)
    except OSError:
        if not os.path.isfile(os.path.join(path, "meta.json")):
            raise
        # another process finished the same cache first; its copy is identical
    return path


def is_complete(path: str) -> bool:
    return all(os.path.isfile(os.path.join(path, f)) for f in ("meta.json", "crops.npy", "rects.npy"))


def open_cache(path: str) -> np.ndarray:
    """The cached crops, memory-mapped read-only: uint8 [N, E, 3, S, S]."""
    try:
        return np.load(os.path.join(path, "crops.npy"), mmap_mode="r")
    except (OSError, ValueError) as e:
        raise OSError(f"{path}/crops.npy: crop cache is unreadable ({e}); delete the directory to rebuild") from e


def open_rects(path: str) -> np.ndarray:
    """The rendered rect (x0, y0, x1, y1) of every cached row: float32 [N, 4]."""
    return np.load(os.path.join(path, "rects.npy"))
