"""validate(root) -> every problem of a dataset directory, each naming file, CSV line and column.

Line numbers are CSV line numbers as an editor shows them: the header is line 1, the first data
row line 2 (no cell may hold a line break). Checks are vectorised pandas so that a million-row
frames.csv validates in seconds; Python loops run only over the rows that have a problem.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

import numpy as np
import pandas as pd

from manifests import schema
from manifests.io import (ManifestError, PathGuard, bad_cell_text, csv_line, ragged_lines, ragged_message,
                          read_cells, read_header)


class _Reported(Exception):
    """The file's problems are already in the report; stop checking it."""


@dataclass(frozen=True)
class Problem:
    """One problem: `line` is the CSV line number (header = 1), None for the whole file/clip."""

    file: str
    line: Optional[int]
    column: Optional[str]
    message: str

    @property
    def row(self) -> Optional[int]:  # the brief's name for it; same value
        return self.line

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        return f"{where}: {self.column + ': ' if self.column else ''}{self.message}"


class _Report:
    def __init__(self):
        self.problems: List[Problem] = []

    def add(self, file, line, column, message):
        self.problems.append(Problem(str(file), None if line is None else int(line), column, message))

    def rows(self, file, mask: pd.Series, column, message_of):
        """One problem per True row of `mask`; message_of(index) builds its message."""
        for i in mask.index[mask.to_numpy(dtype=bool, na_value=False)]:
            self.add(file, csv_line(i), column, message_of(i))


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, str) else str(v)


def _read(rep: _Report, file, dtypes: dict):
    """(typed table, raw cells or None); unparseable cells reported (once) and set to NA. Lines
    with the wrong number of fields are all reported and end the file's checks (ManifestError):
    their cells cannot be told apart."""
    n_fields = len(read_header(file))
    ragged = ragged_lines(file, n_fields)
    for line, n in ragged:
        rep.add(file, line, None, ragged_message(n, n_fields))
    if ragged:
        raise _Reported()
    df, bad, raw = read_cells(file, dtypes, check_fields=False)
    for col, b in bad.items():
        kind = "an integer" if dtypes[col] == schema.INT else "a number"
        rep.rows(file, pd.Series(b, index=df.index), col,
                 lambda i, c=col, k=kind: f"{bad_cell_text(df, raw, c, i)} is not {k}")
    # emptiness is judged on the file's cells, so a bad cell is not also reported as empty
    return df, (raw if raw is not None else df)


def _required(rep, file, df, required: Iterable[str]) -> None:
    for col in required:
        if col not in df.columns:
            rep.add(file, 1, col, "required column is missing from the header")


def _not_empty(rep, file, df, columns, why) -> None:
    for col in columns:
        if col in df.columns:
            rep.rows(file, df[col].isna(), col, lambda i: f"empty value; {why}")


def _range(rep, file, df, col, bad_mask, expected) -> None:
    if col in df.columns:
        rep.rows(file, bad_mask(df[col]).fillna(False), col,
                 lambda i: f"{_fmt(df[col].at[i])} is not {expected}")


def _value_checks(rep, file, df, binary_columns) -> None:
    for col in binary_columns:
        _range(rep, file, df, col, lambda s: ~s.isin([0, 1]) & s.notna(), "0 or 1")
    for eye in schema.EYES:
        _range(rep, file, df, f"{eye}_closure", lambda s: (s < 0) | (s > 1), "in [0, 1]")
        _range(rep, file, df, f"{eye}_phase", lambda s: ~s.isin(schema.PHASES) & s.notna(),
               "a phase (" + ", ".join(schema.PHASES) + ")")
        _range(rep, file, df, f"{eye}_blink_id", lambda s: s < schema.NO_EVENT,
               f"a blink id (>= 0 inside an event, {schema.NO_EVENT} outside)")
    for col in ("width", "height", "n_frames"):
        _range(rep, file, df, col, lambda s: s <= 0, "a positive size")
    for col in ("frame", "video_frame"):
        _range(rep, file, df, col, lambda s: s < 0, "a frame number (>= 0)")
    _range(rep, file, df, "fps", lambda s: ~(s > 0) & s.notna(), "a positive frame rate")
    _range(rep, file, df, "split", lambda s: ~s.isin(schema.SPLITS) & s.notna(),
           "a split (" + ", ".join(schema.SPLITS) + ")")


def _phase_vs_blink_id(rep, file, df) -> None:
    for eye in schema.EYES:
        ph, bid = f"{eye}_phase", f"{eye}_blink_id"
        if ph not in df.columns or bid not in df.columns:
            continue
        known = df[ph].notna() & df[bid].notna()
        is_open = df[ph] == "open"
        outside = df[bid] == schema.NO_EVENT
        bad = known & (is_open != outside)
        rep.rows(file, bad, bid, lambda i: (
            f"blink_id {df[bid].at[i]} does not match phase {df[ph].at[i]!r}: "
            f"it must be {schema.NO_EVENT} exactly on 'open' frames"))


def _landmarks(rep, file, df) -> None:
    if "width" not in df.columns or "height" not in df.columns:
        return
    w = df["width"].astype("float64")
    h = df["height"].astype("float64")
    for eye in schema.EYES:
        vis = df[f"{eye}_visible"] if f"{eye}_visible" in df.columns else pd.Series(pd.NA, index=df.index)
        hidden = (vis == 0).fillna(False)
        for xcol, ycol in schema.landmark_columns(eye):
            for col, size, axis in ((xcol, w, "x"), (ycol, h, "y")):
                if col not in df.columns:
                    continue
                v = df[col]
                bad = (v.notna() & ~hidden & size.notna() & ((v < 0) | (v > size))).fillna(False)
                rep.rows(file, bad, col, lambda i, v=v, size=size, axis=axis, e=eye: (
                    f"{_fmt(v.at[i])} is outside the image ({axis} in [0, {_fmt(size.at[i])}]) "
                    f"while {e}_visible is not 0"))


def _first_index(df, keys) -> pd.Series:
    """For each row, the index of the first row with the same `keys`."""
    return pd.Series(df.index, index=df.index).groupby([df[k] for k in keys], dropna=False).transform("min")


def _duplicates(rep, file, df, keys) -> bool:
    if any(k not in df.columns for k in keys):
        return False
    sub = df[list(keys)]
    dup = sub.duplicated(keep="first") & sub.notna().all(axis=1)
    if dup.any():
        first = _first_index(sub, keys)
        rep.rows(file, dup, keys[-1], lambda i: (
            f"duplicate ({', '.join(keys)}) = ({', '.join(_fmt(sub[k].at[i]) for k in keys)}); "
            f"first at line {csv_line(first.at[i])}"))
    return bool(dup.any())


def _frame_numbers(rep, file, df) -> None:
    """The frames of a clip must be exactly 0..n-1."""
    if "clip_id" not in df.columns or "frame" not in df.columns:
        return
    sub = df[["clip_id", "frame"]].dropna()
    g = sub.groupby("clip_id", sort=False)["frame"]
    agg = pd.DataFrame({"n": g.nunique(), "lo": g.min(), "hi": g.max()})
    agg["first"] = pd.Series(sub.index, index=sub.index).groupby(sub["clip_id"], sort=False).min()
    bad = agg[(agg["lo"] != 0) | (agg["hi"] != agg["n"] - 1)]  # n unique values in 0..n-1 <=> exactly 0..n-1
    if bad.empty:
        return
    present = sub[sub["clip_id"].isin(bad.index)].groupby("clip_id", sort=False)["frame"].agg(
        lambda s: set(s.astype(int)))
    for clip_id, a in bad.iterrows():
        missing = sorted(set(range(int(a["hi"]) + 1)) - present[clip_id])
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        msg = f"frames of clip {clip_id!r} must be 0..n-1 with no gaps"
        msg += f"; missing {shown}" if missing else f"; they start at {int(a['lo'])}"
        rep.add(file, csv_line(a["first"]), "frame", msg)


def _clip_level(rep, file, df) -> None:
    """Clip-level values must be the same on every frame of a clip: the first row of the clip
    whose value differs from the clip's first row is reported (once per clip and column)."""
    if "clip_id" not in df.columns:
        return
    sub = df[df["clip_id"].notna()]
    first = _first_index(sub, ["clip_id"])
    for col in schema.CLIP_LEVEL_COLUMNS:
        if col == "clip_id" or col not in df.columns:
            continue
        v = sub[col]
        ref = pd.Series(v.loc[first.to_numpy()].to_numpy(), index=v.index)
        same = (v == ref).fillna(False) | (v.isna() & ref.isna())
        differs = ~same.astype(bool)
        if not differs.any():
            continue
        rows = sub.loc[differs, ["clip_id"]].drop_duplicates("clip_id")
        for i in rows.index:
            j = first.at[i]
            rep.add(file, csv_line(i), col,
                    f"{_fmt(v.at[i])} differs from {_fmt(v.at[j])} at line {csv_line(j)}: a clip-level "
                    f"value must be the same on every frame of clip {sub['clip_id'].at[i]!r}")


def _decode_problem(path: str, expect_wh) -> Optional[str]:
    """Why the image at `path` is unusable (the trainer decodes with OpenCV too), or None."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        return "is an empty file (0 bytes)"
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        return f"cannot be decoded as an image ({data.size} bytes)"
    h, w = img.shape[:2]
    if expect_wh is not None and (w, h) != expect_wh:
        return f"is {w}x{h} pixels but width, height say {expect_wh[0]}x{expect_wh[1]}"
    return None


def _decode_all(paths, expect, workers: Optional[int] = None) -> dict:
    """{path: problem} for the images that do not decode (threads: OpenCV releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        found = pool.map(_decode_problem, paths, [expect.get(p) for p in paths], chunksize=64)
        return {p: why for p, why in zip(paths, found) if why is not None}


def _paths(rep, file, root: Path, df, col, decode: bool) -> None:
    if col not in df.columns:
        return
    paths = df[col]
    known = paths.notna()
    guard = PathGuard(root)
    uniq = paths[known].unique()
    unsafe = {p: guard.problem(p) for p in uniq}
    bad_path = known & paths.map(unsafe).notna()
    rep.rows(file, bad_path, col, lambda i: unsafe[paths.at[i]])
    rel = paths[known & ~bad_path]
    uniq = rel.unique()
    exists = {p: os.path.isfile(root / p) for p in uniq}
    found = rel.map(exists).astype(bool)
    missing = rel[~found]
    rep.rows(file, pd.Series(True, index=missing.index), col,
             lambda i: f"file not found: {paths.at[i]!r} (relative to {root})")
    if not decode or col != "image":  # videos are checked by their reader, frame by frame
        return
    present = rel[found]
    expect = {}
    if "width" in df.columns and "height" in df.columns:
        first = df.loc[present.index].drop_duplicates(col)
        ok = first["width"].notna() & first["height"].notna()
        expect = {os.fspath(root / p): (int(w), int(h))
                  for p, w, h in zip(first.loc[ok, col], first.loc[ok, "width"], first.loc[ok, "height"])}
    unusable = _decode_all([os.fspath(root / p) for p in present.unique()], expect)
    if unusable:
        why = present.map(lambda p: unusable.get(os.fspath(root / p)))
        rep.rows(file, why.notna(), col, lambda i: f"{paths.at[i]!r} {why.at[i]}")


def _feature_columns(rep, file, df, features) -> None:
    for feature in features:
        cols = schema.feature_columns(feature)
        for col in cols:
            if col not in df.columns:
                rep.add(file, 1, col, f"column needed by feature {feature!r} is missing from the header")
        for col in cols:
            if col not in df.columns:
                continue
            empty = df[col].isna()
            eye = col.split("_", 1)[0]
            if eye in schema.EYES and f"{eye}_visible" in df.columns:
                # an eye that is not visible (occluded, out of frame, absent) needs no labels
                empty &= ~(pd.to_numeric(df[f"{eye}_visible"], errors="coerce") == 0).fillna(False)
            rep.rows(file, empty, col, lambda i, f=feature: f"empty value; feature {f!r} needs it")


def validate_frames(rep: _Report, root: Path, features=(), check_files=True,
                    decode=True) -> Optional[pd.DataFrame]:
    file = root / schema.FRAMES_CSV
    try:
        df, raw = _read(rep, file, schema.FRAME_DTYPES)
    except _Reported:
        return None
    except ManifestError as e:
        rep.add(file, e.line, e.column, e.message)
        return None
    if df.empty:
        rep.add(file, None, None, "no data rows")
    _required(rep, file, df, schema.FRAME_REQUIRED_COLUMNS)
    # emptiness is judged on the raw cells: an unparseable cell is reported once, above
    _not_empty(rep, file, raw, schema.NON_NULL_FRAME_COLUMNS, "this column must always be filled")
    if "image" in df.columns:
        no_video = df["video"].isna() if "video" in df.columns else pd.Series(True, index=df.index)
        rep.rows(file, df["image"].isna() & no_video, "image",
                 lambda i: "empty value; every frame needs an image (or a video)")
    if "video" in df.columns and "video_frame" in df.columns:
        rep.rows(file, df["video"].notna() & df["video_frame"].isna(), "video_frame",
                 lambda i: "empty value; a frame stored in a video needs its video_frame")
    _feature_columns(rep, file, raw, features)
    _value_checks(rep, file, df, [c for c in schema.BINARY_COLUMNS if c != "cut_event"])
    _phase_vs_blink_id(rep, file, df)
    _landmarks(rep, file, df)
    _duplicates(rep, file, df, schema.FRAME_KEY_COLUMNS)
    _frame_numbers(rep, file, df)
    _clip_level(rep, file, df)
    if check_files:
        _paths(rep, file, root, df, "image", decode)
        _paths(rep, file, root, df, "video", decode)
    return df


def validate_clips(rep: _Report, root: Path, frames: Optional[pd.DataFrame]) -> None:
    file = root / schema.CLIPS_CSV
    try:
        df, raw = _read(rep, file, schema.CLIP_DTYPES)
    except _Reported:
        return
    except ManifestError as e:
        rep.add(file, e.line, e.column, e.message)
        return
    _required(rep, file, df, schema.CLIP_REQUIRED_COLUMNS)
    _not_empty(rep, file, raw, schema.NON_NULL_CLIP_COLUMNS, "this column must always be filled")
    _value_checks(rep, file, df, ["blink", "cut_event"])
    _duplicates(rep, file, df, schema.CLIP_KEY_COLUMNS)
    if frames is None or "clip_id" not in frames.columns or "clip_id" not in df.columns:
        return
    # clips.csv and frames.csv must describe the same clips
    fr = frames.dropna(subset=["clip_id"])
    first_line = pd.Series(fr.index, index=fr.index).groupby(fr["clip_id"], sort=False).min()
    in_clips = set(df["clip_id"].dropna())
    for clip_id, i in first_line.items():
        if clip_id not in in_clips:
            rep.add(file, None, "clip_id",
                    f"clip {clip_id!r} of frames.csv (line {csv_line(i)}) has no row in clips.csv")
    rep.rows(file, df["clip_id"].notna() & ~df["clip_id"].isin(first_line.index), "clip_id",
             lambda i: f"clip {df['clip_id'].at[i]!r} has no frames in frames.csv")
    per_clip = fr.groupby("clip_id", sort=False)
    compare = {"n_frames": per_clip.size()}
    for col in ("subject_id", "fps", "width", "height", "blink", "split"):
        if col in fr.columns and col in df.columns:
            compare[col] = per_clip[col].first()
    for col, frame_value in compare.items():
        if col not in df.columns:
            continue
        theirs = df["clip_id"].map(frame_value)
        ours = df[col]
        bad = (ours.notna() & theirs.notna() & (ours != theirs)).fillna(False)
        rep.rows(file, bad, col, lambda i, c=col, t=theirs: (
            f"{_fmt(ours.at[i])} disagrees with frames.csv, which has "
            + (f"{t.at[i]} frames" if c == "n_frames" else f"{_fmt(t.at[i])}")
            + f" for clip {df['clip_id'].at[i]!r}"))


def validate(root, features: Iterable[str] = (), check_files: bool = True,
             decode: bool = True) -> List[Problem]:
    """Every problem of the dataset at `root` (empty list: valid).

    features: trainer features (schema.FEATURES keys) whose columns must be filled, e.g.
    ("eye_crops", "closure_regression"); by default only the always-needed columns must be.
    check_files: also check that every image / video path stays inside `root` and exists (one
    stat per unique path).
    decode: also decode every image (once per unique path; its size must match width/height):
    a 0-byte or truncated PNG exists but cannot train. Off for speed on trusted data."""
    root = Path(root)
    rep = _Report()
    for f in features:
        schema.feature_columns(f)  # unknown feature: ValueError before any work
    if not root.is_dir():
        rep.add(root, None, None, "dataset directory not found")
        return rep.problems
    frames = validate_frames(rep, root, features, check_files, decode)
    if (root / schema.CLIPS_CSV).exists():
        validate_clips(rep, root, frames)
    # in file order, as a user reads them; whole-file problems (no line) first
    return sorted(rep.problems, key=lambda p: (p.file != str(root / schema.FRAMES_CSV), p.line or 0))
