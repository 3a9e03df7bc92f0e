"""Reading and writing manifests with pandas: typed columns, clear errors, atomic writes."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd

from manifests import schema
from manifests.atomic import atomic_path

PathLike = Union[str, os.PathLike]


class ManifestError(Exception):
    """A manifest that cannot be used. `file`, `line` (CSV line number, header = 1) and `column`
    say where, when known."""

    def __init__(self, file, message, line=None, column=None):
        self.file, self.line, self.column, self.message = str(file), line, column, message
        where = self.file + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {column + ': ' if column else ''}{message}")


def csv_line(index) -> int:
    """CSV line number (as an editor shows it; the header is line 1) of 0-based data row `index`."""
    return int(index) + 2


def read_header(path: PathLike) -> list:
    """Column names of a CSV file (stripped), with clear errors for a missing/empty file or a
    repeated column name (pandas would silently rename it "name.1")."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, "file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheet BOM
            header = next(csv.reader(f), None)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ManifestError(path, f"not a readable CSV file: {e}", line=1) from None
    if not header or all(not h.strip() for h in header):
        raise ManifestError(path, "file is empty (no header line)")
    header = [h.strip() for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise ManifestError(path, f"duplicate column(s) in the header: {', '.join(dup)}", line=1)
    return header


def _read_csv(path: Path, header: list, dtype) -> pd.DataFrame:
    try:
        return pd.read_csv(path, header=0, names=header, dtype=dtype, keep_default_na=False,
                           na_values=[""], encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ManifestError(path, "file is empty (no header line)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ManifestError(path, f"not a readable CSV file: {e}") from None


def read_raw_csv(path: PathLike) -> pd.DataFrame:
    """Every cell as a string (empty cell = NA), index = 0-based data row. Nothing is converted,
    so that validation can say which cell does not parse instead of pandas guessing a dtype."""
    header = read_header(path)
    return _read_csv(Path(path), header, str)


def read_cells(path: PathLike, dtypes: dict):
    """Read a manifest CSV with the known columns converted to `dtypes`.

    Returns (df, bad, raw): `bad[col]` is a boolean array of the cells of a known numeric column
    that are not empty but do not parse as its dtype (set to NA in df); `raw` is the all-string
    table when some cell did not parse (for messages), else None. Fast path: pandas' C parser
    reads the numeric columns directly; only a file with a bad cell is read again as strings."""
    path = Path(path)
    header = read_header(path)
    numeric = [c for c in header if dtypes.get(c) in (schema.INT, schema.FLOAT)]
    raw = None
    try:
        df = _read_csv(path, header, {c: ("float64" if c in numeric else str) for c in header})
    except ValueError:  # a numeric column holds text
        raw = _read_csv(path, header, str)
        df = raw.copy()
        for c in numeric:
            df[c] = pd.to_numeric(raw[c], errors="coerce").astype("float64")
    bad = {}
    for c in numeric:
        v = df[c].to_numpy(dtype="float64", na_value=np.nan, copy=True)
        b = np.zeros(len(v), dtype=bool)
        if raw is not None:
            b |= raw[c].notna().to_numpy() & np.isnan(v)
        if dtypes[c] == schema.INT:
            b |= np.isinf(v) | (np.isfinite(v) & (v != np.round(v)))
            v[b] = np.nan
            df[c] = pd.Series(v, index=df.index).astype(schema.INT)
        else:
            df[c] = pd.Series(v, index=df.index)
        bad[c] = b
    for c in header:
        if dtypes.get(c) == schema.STR:
            df[c] = df[c].astype(schema.STR)
    if raw is None and any(b.any() for b in bad.values()):
        raw = _read_csv(path, header, str)  # e.g. 96.5 in an integer column: quote the file's text
    return df, bad, raw


def bad_cell_text(df, raw, col, i) -> str:
    """The text of a cell that did not parse, as the file holds it."""
    v = raw[col].at[i] if raw is not None else df[col].at[i]
    return repr(v) if isinstance(v, str) else repr(str(v))


def typed(path: PathLike, dtypes: dict) -> pd.DataFrame:
    """Read a manifest CSV with its dtypes, raising ManifestError at the first cell that does
    not parse. Unknown columns: numeric when all their values are, else string."""
    df, bad, raw = read_cells(path, dtypes)
    for col, b in bad.items():
        if b.any():
            i = int(np.flatnonzero(b)[0])
            kind = "an integer" if dtypes[col] == schema.INT else "a number"
            raise ManifestError(path, f"{bad_cell_text(df, raw, col, i)} is not {kind} "
                                      "(python -m manifests validate lists every problem)",
                                line=csv_line(i), column=col)
    for col in df.columns:
        if col not in dtypes:
            num = pd.to_numeric(df[col], errors="coerce")
            if (num.notna() | df[col].isna()).all():
                df[col] = num
    return df


def _csv_path(path: PathLike, name: str) -> Path:
    path = Path(path)
    return path / name if path.is_dir() else path


def read_frames(path: PathLike) -> pd.DataFrame:
    """frames.csv of a dataset directory (or the CSV file itself), with the schema's dtypes."""
    return typed(_csv_path(path, schema.FRAMES_CSV), schema.FRAME_DTYPES)


def read_clips(path: PathLike) -> pd.DataFrame:
    """clips.csv of a dataset directory (or the CSV file itself); extra sampled-parameter
    columns are kept (numeric where every value is)."""
    return typed(_csv_path(path, schema.CLIPS_CSV), schema.CLIP_DTYPES)


def ordered_columns(columns, canonical) -> list:
    """Canonical columns first (in contract order), then the others as they came."""
    columns = list(columns)
    return [c for c in canonical if c in columns] + [c for c in columns if c not in canonical]


def write_csv(df: pd.DataFrame, path: PathLike) -> Path:
    """Write `df` to `path` atomically: a temporary file in the same directory, then os.replace,
    so a reader never sees half a file and a crash leaves the old file intact."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        df.to_csv(f, index=False)
    return path


@dataclass
class Dataset:
    """A dataset directory: `frames` (frames.csv) and `clips` (clips.csv, None when absent)."""

    root: Path
    frames: pd.DataFrame
    clips: Optional[pd.DataFrame] = None

    @classmethod
    def load(cls, root: PathLike) -> "Dataset":
        root = Path(root)
        if not root.is_dir():
            raise ManifestError(root, "dataset directory not found")
        clips_path = root / schema.CLIPS_CSV
        clips = read_clips(clips_path) if clips_path.exists() else None
        return cls(root=root, frames=read_frames(root / schema.FRAMES_CSV), clips=clips)

    def path(self, relative: str) -> Path:
        """Absolute path of a path stored in the manifest (relative to the dataset)."""
        return self.root / relative

    def save(self) -> None:
        """Write frames.csv (and clips.csv when present) atomically, canonical columns first."""
        write_csv(self.frames[ordered_columns(self.frames.columns, schema.FRAME_COLUMNS)],
                  self.root / schema.FRAMES_CSV)
        if self.clips is not None:
            write_csv(self.clips[ordered_columns(self.clips.columns, schema.CLIP_COLUMNS)],
                      self.root / schema.CLIPS_CSV)
