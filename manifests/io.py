"""Reading and writing manifests with pandas: typed columns, clear errors, atomic writes."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd

from manifests import schema

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


def read_raw_csv(path: PathLike) -> pd.DataFrame:
    """Every cell as a string (empty cell = NA), index = 0-based data row. Nothing is converted,
    so that validation can say which cell does not parse instead of pandas guessing a dtype."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, "file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise ManifestError(path, "file is empty (no header line)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise ManifestError(path, f"not a readable CSV file: {e}") from None
    df.columns = [str(c).strip() for c in df.columns]
    dup = df.columns[df.columns.duplicated()]
    if len(dup):
        raise ManifestError(path, f"duplicate column(s) in the header: {', '.join(dup)}", line=1)
    return df


def parse_column(raw: pd.Series, dtype: str):
    """Convert one raw string column to `dtype`. Returns (typed series, boolean mask of cells
    that are non-empty but do not parse as `dtype`)."""
    if dtype == schema.STR:
        return raw.astype(schema.STR), pd.Series(False, index=raw.index)
    stripped = raw.str.strip()
    num = pd.to_numeric(stripped, errors="coerce")
    bad = raw.notna() & num.isna()
    if dtype == schema.INT:
        values = num.to_numpy(dtype="float64", na_value=np.nan)
        frac = np.isfinite(values) & (values != np.round(values))
        bad |= pd.Series(frac | np.isinf(values), index=raw.index)
        values = np.where(bad.to_numpy() | ~np.isfinite(values), np.nan, values)
        return pd.Series(values, index=raw.index).astype(schema.INT), bad
    return num.astype(dtype), bad


def typed(raw: pd.DataFrame, dtypes: dict, file: PathLike = "?") -> pd.DataFrame:
    """Convert the known columns of a raw frame to their dtypes, raising ManifestError at the
    first cell that does not parse. Unknown columns: numeric when all their values are, else string."""
    out = {}
    for col in raw.columns:
        if col in dtypes:
            values, bad = parse_column(raw[col], dtypes[col])
            if bad.any():
                i = bad.to_numpy().nonzero()[0][0]
                raise ManifestError(file, f"{raw[col].iloc[i]!r} is not a valid {dtypes[col]} value",
                                    line=csv_line(i), column=col)
            out[col] = values
        else:
            num = pd.to_numeric(raw[col], errors="coerce")
            out[col] = num if (num.notna() | raw[col].isna()).all() else raw[col].astype(schema.STR)
    return pd.DataFrame(out, index=raw.index)


def _csv_path(path: PathLike, name: str) -> Path:
    path = Path(path)
    return path / name if path.is_dir() else path


def read_frames(path: PathLike) -> pd.DataFrame:
    """frames.csv of a dataset directory (or the CSV file itself), with the schema's dtypes."""
    path = _csv_path(path, schema.FRAMES_CSV)
    return typed(read_raw_csv(path), schema.FRAME_DTYPES, path)


def read_clips(path: PathLike) -> pd.DataFrame:
    """clips.csv of a dataset directory (or the CSV file itself); extra sampled-parameter
    columns are kept (numeric where every value is)."""
    path = _csv_path(path, schema.CLIPS_CSV)
    return typed(read_raw_csv(path), schema.CLIP_DTYPES, path)


def ordered_columns(columns, canonical) -> list:
    """Canonical columns first (in contract order), then the others as they came."""
    columns = list(columns)
    return [c for c in canonical if c in columns] + [c for c in columns if c not in canonical]


def write_csv(df: pd.DataFrame, path: PathLike) -> Path:
    """Write `df` to `path` atomically: a temporary file in the same directory, then os.replace,
    so a reader never sees half a file and a crash leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            df.to_csv(f, index=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
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
