"""Reading and writing manifests with pandas: typed columns, clear errors, atomic writes."""
from __future__ import annotations

import csv
import os
import re
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


def utf8_error(path: PathLike) -> Optional[ManifestError]:
    """The first byte of `path` that is not UTF-8, as a ManifestError naming its line (an editor's
    line number) and column; None when the whole file decodes."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        return ManifestError(path, f"not UTF-8 text: byte 0x{data[e.start]:02x} at character "
                                   f"{e.start - line_start + 1} of the line (save the file as UTF-8)",
                             line=data.count(b"\n", 0, e.start) + 1)


def read_header(path: PathLike) -> list:
    """Column names of a CSV file (stripped), with clear errors for a missing/empty file or a
    repeated column name (pandas would silently rename it "name.1")."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, "file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: spreadsheet BOM
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        raise utf8_error(path) from None
    except csv.Error as e:
        raise ManifestError(path, f"not a readable CSV file: {e}", line=1) from None
    if not header or all(not h.strip() for h in header):
        raise ManifestError(path, "file is empty (no header line)")
    header = [h.strip() for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise ManifestError(path, f"duplicate column(s) in the header: {', '.join(dup)}", line=1)
    return header


def ragged_lines(path: PathLike, n_fields: int) -> list:
    """[(line, fields)] of every data line of a CSV file whose number of fields is not
    `n_fields` (a blank line has 0; blank lines at the end of the file are fine). pandas would
    silently fill a short row with empty cells and, skipping a blank line, shift every later line
    number, so fields are counted here: commas per line (bytes.count, C speed); only a line
    holding a quote goes through the csv module."""
    bad, blank = [], []
    with open(path, "rb") as f:
        next(f, None)  # the header (read_header checks it)
        for number, line in enumerate(f, 2):
            if not line.strip(b"\r\n"):
                blank.append((number, 0))
                continue
            if b'"' in line:
                n = len(next(csv.reader([line.decode("utf-8", "replace")]), []))
            else:
                n = line.count(b",") + 1
            bad.extend(blank)  # blank lines followed by data: line numbers would shift
            blank = []
            if n != n_fields:
                bad.append((number, n))
    return bad


def _ragged_error(path: Path, n_fields: int) -> Optional[ManifestError]:
    bad = ragged_lines(path, n_fields)
    if not bad:
        return None
    line, n = bad[0]
    more = f" ({len(bad)} such lines)" if len(bad) > 1 else ""
    return ManifestError(path, ragged_message(n, n_fields) + more, line=line)


def ragged_message(n: int, n_fields: int) -> str:
    return "blank line" if n == 0 else f"{n} fields where the header has {n_fields}"


def _read_csv(path: Path, header: list, dtype, check_fields: bool = True) -> pd.DataFrame:
    error = _ragged_error(path, len(header)) if check_fields else None
    if error is not None:
        raise error
    try:
        return pd.read_csv(path, header=0, names=header, dtype=dtype, keep_default_na=False,
                           na_values=[""], encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ManifestError(path, "file is empty (no header line)") from None
    except UnicodeDecodeError:
        raise utf8_error(path) from None
    except pd.errors.ParserError as e:
        raise ManifestError(path, f"not a readable CSV file: {e}") from None


def read_raw_csv(path: PathLike) -> pd.DataFrame:
    """Every cell as a string (empty cell = NA), index = 0-based data row. Nothing is converted,
    so that validation can say which cell does not parse instead of pandas guessing a dtype."""
    header = read_header(path)
    return _read_csv(Path(path), header, str)


def read_cells(path: PathLike, dtypes: dict, check_fields: bool = True):
    """Read a manifest CSV with the known columns converted to `dtypes`.

    Returns (df, bad, raw): `bad[col]` is a boolean array of the cells of a known numeric column
    that are not empty but do not parse as its dtype (set to NA in df); `raw` is the all-string
    table when some cell did not parse (for messages), else None. Fast path: pandas' C parser
    reads the numeric columns directly; only a file with a bad cell is read again as strings.
    check_fields=False skips the count of fields per line (the caller has done it)."""
    path = Path(path)
    header = read_header(path)
    numeric = [c for c in header if dtypes.get(c) in (schema.INT, schema.FLOAT)]
    raw = None
    try:
        df = _read_csv(path, header, {c: ("float64" if c in numeric else str) for c in header},
                       check_fields)
    except ManifestError:
        raise
    except ValueError:  # a numeric column holds text
        raw = _read_csv(path, header, str, check_fields=False)
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
        raw = _read_csv(path, header, str, check_fields=False)  # e.g. 96.5 in an integer column: quote the file's text
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


class UnsafePathError(ValueError):
    """A path from a manifest that would leave its dataset directory."""


_ABSOLUTE = re.compile(r"^(/|\\|[A-Za-z]:)")


class PathGuard:
    """Resolves manifest paths inside one dataset directory, refusing any that could leave it:
    absolute paths, `..` components and symlinks pointing outside (a path is followed to its
    real location). The real location of each directory is cached, so checking a million frame
    paths costs one lstat per file, as checking that they exist does."""

    def __init__(self, root: PathLike):
        self.root = Path(root)
        self._real_root = os.path.realpath(self.root)
        self._real_dirs: dict = {}

    def problem(self, relpath) -> Optional[str]:
        """Why `relpath` is unsafe, or None when it resolves inside the dataset."""
        rel = str(relpath)
        if not rel:
            return "empty path"
        if _ABSOLUTE.match(rel):
            return f"{rel!r} must be relative to the dataset directory"
        parts = rel.replace("\\", "/").split("/")
        if ".." in parts:
            return f"{rel!r} contains '..': manifest paths must stay inside the dataset directory"
        head, name = os.path.split(rel)
        real_dir = self._real_dirs.get(head)
        if real_dir is None:
            real_dir = self._real_dirs[head] = os.path.realpath(os.path.join(self.root, head))
        real = os.path.join(real_dir, name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if real != self._real_root and not real.startswith(self._real_root.rstrip(os.sep) + os.sep):
            return f"{rel!r} leads outside the dataset directory (through a symlink) to {real}"
        return None

    def resolve(self, relpath) -> Path:
        """root / relpath, after checking it stays inside (UnsafePathError otherwise)."""
        why = self.problem(relpath)
        if why is not None:
            raise UnsafePathError(why)
        return self.root / str(relpath)


def resolve_inside(root: PathLike, relpath) -> Path:
    """root / relpath when the manifest path `relpath` stays inside the dataset directory `root`
    (no absolute path, no `..`, no symlink leading out); UnsafePathError otherwise. For many
    paths of one dataset use PathGuard(root) (it caches directories)."""
    return PathGuard(root).resolve(relpath)


def resolve_column(root: PathLike, df: pd.DataFrame, column: str, file: PathLike) -> list:
    """root / path for every (non-empty) cell of a manifest path column, in row order (None for an
    empty cell); the first unsafe path raises ManifestError naming file, line and column."""
    guard = PathGuard(root)
    out = []
    for i, rel in zip(df.index, df[column].tolist()):
        if rel is None or rel is pd.NA or (isinstance(rel, float) and rel != rel):
            out.append(None)
            continue
        why = guard.problem(rel)
        if why is not None:
            raise ManifestError(file, why, line=csv_line(i), column=column)
        out.append(guard.root / str(rel))
    return out


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
        """Path of a path stored in the manifest (relative to the dataset), refused
        (UnsafePathError) when it would leave the dataset directory."""
        return resolve_inside(self.root, relative)

    def save(self) -> None:
        """Write frames.csv (and clips.csv when present) atomically, canonical columns first."""
        write_csv(self.frames[ordered_columns(self.frames.columns, schema.FRAME_COLUMNS)],
                  self.root / schema.FRAMES_CSV)
        if self.clips is not None:
            write_csv(self.clips[ordered_columns(self.clips.columns, schema.CLIP_COLUMNS)],
                      self.root / schema.CLIPS_CSV)
