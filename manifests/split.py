"""Subject-disjoint train/val/test split, the same on every run and every machine.

Subjects are ordered by sha256(f"{seed}:{subject_id}") (never Python's salted hash()) and cut
into consecutive blocks whose sizes follow `ratios` (largest remainder; every split with a
ratio > 0 gets at least one subject while there are enough). Rows without a subject_id (real
datasets that do not know it) are grouped by clip_id instead: a clip is never cut across splits.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pandas as pd

from manifests import schema


def subject_key(seed: int, subject: str) -> str:
    return hashlib.sha256(f"{seed}:{subject}".encode("utf-8")).hexdigest()


def split_sizes(n: int, ratios: Sequence[float]) -> list:
    """How many of `n` groups go to each split: largest-remainder rounding of n * ratios,
    then at least one group for each split with a ratio > 0 while groups remain."""
    r = np.asarray(ratios, dtype=float)
    if r.ndim != 1 or len(r) == 0 or not np.isfinite(r).all() or (r < 0).any() or not r.sum() > 0:
        raise ValueError(f"ratios must be finite and non-negative with a positive sum, got "
                         f"{[float(x) for x in np.ravel(r)]}")
    r = r / r.sum()
    exact = n * r
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - sizes), kind="stable")[: n - sizes.sum()]:
        sizes[i] += 1
    for i in np.flatnonzero((r > 0) & (sizes == 0)):  # take one from the largest split
        j = int(np.argmax(sizes))
        if sizes[j] > 1:
            sizes[j] -= 1
            sizes[i] += 1
    return sizes.tolist()


def assign_splits(groups, ratios=(0.8, 0.1, 0.1), seed: int = 0, names=schema.SPLITS) -> dict:
    """{group: split name} for the unique `groups` (subject ids)."""
    if len(ratios) != len(names):
        raise ValueError(f"{len(ratios)} ratios for {len(names)} splits {tuple(names)}")
    uniq = sorted(set(groups), key=lambda g: (subject_key(seed, g), g))
    sizes = split_sizes(len(uniq), ratios)
    out, start = {}, 0
    for name, k in zip(names, sizes):
        out.update({g: name for g in uniq[start:start + k]})
        start += k
    return out


def split(frames: pd.DataFrame, ratios=(0.8, 0.1, 0.1), seed: int = 0) -> pd.DataFrame:
    """A copy of `frames` with a `split` column (train/val/test), subject-disjoint."""
    if "clip_id" not in frames.columns:
        raise ValueError("frames has no clip_id column")
    subject = frames["subject_id"] if "subject_id" in frames.columns else pd.Series(pd.NA, index=frames.index)
    group = subject.astype("string").fillna("clip:" + frames["clip_id"].astype("string"))
    mapping = assign_splits(group.unique().tolist(), ratios, seed)
    out = frames.copy()
    out["split"] = group.map(mapping).astype(schema.STR)
    return out


def split_dataset(root, ratios=(0.8, 0.1, 0.1), seed: int = 0, out=None) -> pd.DataFrame:
    """Write the split column into ROOT/frames.csv (and clips.csv when present) in place,
    atomically. With `out` (a CSV file path) write only the split frames table there and leave
    the dataset untouched; its image paths stay relative to ROOT."""
    from manifests.io import Dataset, ordered_columns, write_csv

    ds = Dataset.load(root)
    ds.frames = split(ds.frames, ratios, seed)
    if out is not None:
        write_csv(ds.frames[ordered_columns(ds.frames.columns, schema.FRAME_COLUMNS)], out)
        return ds.frames
    if ds.clips is not None:
        per_clip = ds.frames.groupby("clip_id")["split"].first()
        ds.clips = ds.clips.assign(split=ds.clips["clip_id"].map(per_clip).astype(schema.STR))
    ds.save()
    return ds.frames
