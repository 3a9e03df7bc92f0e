"""merge(shard_dirs, out_dir): the union of several dataset shards as one dataset.

- Rows are compared exactly as written (cell text), with their image/video paths taken
  relative to their own shard. A row present in several shards with identical values is kept
  once; the same (clip_id, frame) (or clips.csv clip_id) with different values is a conflict:
  MergeConflict names both shards and the CSV lines, and nothing is written.
- Image and video paths are re-based so that they stay valid relative to out_dir:
  * a shard INSIDE out_dir (e.g. out/shard_003 from `--shard i/N` workers): only the manifests
    are written; paths become "shard_003/frames/...". No pixel is copied.
  * a shard OUTSIDE out_dir: its files are hard-linked (copied where linking is impossible,
    e.g. across file systems) into out_dir under their original relative path, which is unique
    because clip ids are. An existing identical file there is left alone.
- frames.csv and clips.csv are written atomically, sorted by (clip_id, frame); frames.csv is
  written last, so a dataset whose frames.csv exists is complete.
"""
from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path
from typing import List, Sequence

import pandas as pd

from manifests import schema
from manifests.atomic import atomic_path
from manifests.io import ManifestError, PathGuard, csv_line, ordered_columns, read_raw_csv, write_csv

SHARD = "_shard"   # helper columns, never written
LINE = "_line"


class MergeConflict(ManifestError):
    pass


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _read_shard_table(shard: Path, name: str, index: int, required: bool):
    path = shard / name
    if not path.exists():
        if required:
            raise ManifestError(path, "file not found (is this a dataset directory?)")
        return None
    df = read_raw_csv(path)
    df[SHARD] = index
    df.attrs["shard"] = index
    df[LINE] = [csv_line(i) for i in range(len(df))]
    return df


def _union(tables: List[pd.DataFrame], keys: Sequence[str], shards: List[Path], name: str):
    """Concatenate, drop identical duplicates, reject conflicting ones."""
    for t in tables:
        for k in keys:
            if k not in t.columns:
                shard = shards[int(t.attrs["shard"])]
                raise ManifestError(shard / name, "required column is missing from the header", 1, k)
    all_rows = pd.concat(tables, ignore_index=True, sort=False)
    value_cols = [c for c in all_rows.columns if c not in (SHARD, LINE)]
    unique = all_rows.drop_duplicates(subset=value_cols, keep="first")
    clash = unique.duplicated(subset=list(keys), keep=False)
    if clash.any():
        rows = unique[clash].sort_values([SHARD, LINE])
        first = rows.iloc[0]
        other = rows[(rows[list(keys)] == first[list(keys)]).all(axis=1)].iloc[1]
        a, b = shards[first[SHARD]] / name, shards[other[SHARD]] / name
        diff = [c for c in value_cols
                if not (pd.isna(first[c]) and pd.isna(other[c])) and first[c] != other[c]]
        key_text = ", ".join(f"{k}={first[k]}" for k in keys)
        raise MergeConflict(
            a, f"conflicting duplicate ({key_text}): {a}:{first[LINE]} and {b}:{other[LINE]} differ in "
               + ", ".join(f"{c} ({first[c]!r} vs {other[c]!r})" for c in diff[:5])
               + f"; {int(clash.sum())} conflicting rows in all",
            line=int(first[LINE]), column=diff[0] if diff else None)
    return unique


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        if dst.samefile(src) or filecmp.cmp(src, dst, shallow=False):
            return
        raise MergeConflict(dst, f"exists with different content than {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # appears whole in one step, and fails rather than replace a file
    except FileExistsError:
        raise
    except OSError:  # another filesystem, or no hard links: copy, through a temporary file
        with atomic_path(dst, suffix=dst.suffix) as tmp:
            shutil.copy2(src, tmp)


def _check_paths(df: pd.DataFrame, shards: List[Path]) -> None:
    """Every path must stay inside its shard (manifests.io.PathGuard): a path such as
    `x/../../elsewhere/f` would otherwise make merge read, and write, outside the directories."""
    for col in schema.PATH_COLUMNS:
        if col not in df.columns:
            continue
        for k, shard in enumerate(shards):
            guard = PathGuard(shard)
            sel = (df[SHARD] == k) & df[col].notna()
            for rel, line in zip(df.loc[sel, col], df.loc[sel, LINE]):
                why = guard.problem(rel)
                if why is not None:
                    raise ManifestError(shard / schema.FRAMES_CSV, why, int(line), col)


def _rebase(df: pd.DataFrame, shards: List[Path], out_dir: Path, inside: List[bool]) -> pd.DataFrame:
    """Make every path column relative to out_dir (see module doc); copies files of outside shards.
    The paths were checked by _check_paths: each stays inside its shard, so out_dir / path stays
    inside out_dir."""
    df = df.copy()
    for col in schema.PATH_COLUMNS:
        if col not in df.columns:
            continue
        for k, shard in enumerate(shards):
            sel = (df[SHARD] == k) & df[col].notna()
            if not sel.any():
                continue
            if inside[k]:
                prefix = os.path.relpath(shard.resolve(), out_dir.resolve()).replace(os.sep, "/")
                if prefix != ".":
                    df.loc[sel, col] = prefix + "/" + df.loc[sel, col]
            else:
                out_guard = PathGuard(out_dir)  # a symlink already in out_dir must not lead out either
                for rel in df.loc[sel, col].unique():
                    why = out_guard.problem(rel)
                    if why is not None:
                        line = int(df.loc[sel & (df[col] == rel), LINE].iloc[0])
                        raise ManifestError(out_dir, f"cannot place {shard / schema.FRAMES_CSV}:{line} "
                                                     f"there: {why}", column=col)
                    src = shard / rel
                    if not src.is_file():
                        line = int(df.loc[sel & (df[col] == rel), LINE].iloc[0])
                        raise ManifestError(shard / schema.FRAMES_CSV, f"file not found: {rel!r}", line, col)
                    _link_or_copy(src, out_dir / rel)
    return df


def _sorted(df: pd.DataFrame, keys) -> pd.DataFrame:
    order = [df[k] if k != "frame" else pd.to_numeric(df[k], errors="coerce") for k in keys]
    tmp = pd.DataFrame({f"k{i}": s for i, s in enumerate(order)})
    return df.loc[tmp.sort_values(list(tmp.columns), kind="stable").index]


def merge(shard_dirs: Sequence, out_dir) -> Path:
    """Merge dataset directories `shard_dirs` into `out_dir` (see the module doc). Returns out_dir."""
    shards = [Path(s) for s in shard_dirs]
    out_dir = Path(out_dir)
    if not shards:
        raise ValueError("no shard directories given")
    for s in shards:
        if not s.is_dir():
            raise ManifestError(s, "shard directory not found")
    inside = [_inside(s, out_dir) for s in shards]
    frames = [_read_shard_table(s, schema.FRAMES_CSV, k, True) for k, s in enumerate(shards)]
    clips = [_read_shard_table(s, schema.CLIPS_CSV, k, False) for k, s in enumerate(shards)]
    merged_frames = _union(frames, schema.FRAME_KEY_COLUMNS, shards, schema.FRAMES_CSV)
    present_clips = [c for c in clips if c is not None]
    merged_clips = None
    if present_clips:
        merged_clips = _union(present_clips, schema.CLIP_KEY_COLUMNS, shards, schema.CLIPS_CSV)
    _check_paths(merged_frames, shards)
    # every check passed: now touch the output
    out_dir.mkdir(parents=True, exist_ok=True)
    merged_frames = _sorted(_rebase(merged_frames, shards, out_dir, inside), schema.FRAME_KEY_COLUMNS)
    if merged_clips is not None:
        merged_clips = _sorted(merged_clips, schema.CLIP_KEY_COLUMNS).drop(columns=[SHARD, LINE])
        write_csv(merged_clips[ordered_columns(merged_clips.columns, schema.CLIP_COLUMNS)],
                  out_dir / schema.CLIPS_CSV)
    merged_frames = merged_frames.drop(columns=[SHARD, LINE])
    write_csv(merged_frames[ordered_columns(merged_frames.columns, schema.FRAME_COLUMNS)],
              out_dir / schema.FRAMES_CSV)
    return out_dir
