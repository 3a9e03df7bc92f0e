"""Writers, each named by what it writes into a dataset directory.

Standard library only: this module runs inside Blender's bundled Python.

Layout of a dataset being rendered (see docs/architecture.md):

    DATASET/config.json              the full config, seed and versions (``write_dataset_config``)
    DATASET/frames/<clip_id>/0000.png  a complete clip's frames (``ClipWriter``)
    DATASET/videos/<clip_id>.mp4     optional, one per clip (``write_clip_video``)
    DATASET/rows/<clip_id>.json      the clip's manifest rows: the clip's COMMIT MARKER
    DATASET/.partial/                temporary frames/videos/rows of clips being rendered
    DATASET/frames.csv, clips.csv    merged from rows/ (``write_manifests``)

Crash safety: a clip is rendered into ``.partial/<clip_id>/``, then renamed into
``frames/<clip_id>/``; its rows are written to a temporary file and renamed into ``rows/``
LAST. A clip exists exactly when its rows file exists; anything else for that clip id
(a temp dir, frames without rows) is debris of an interrupted run and is removed by
``clean_partial_clips`` before the clip is rendered again.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import zlib
from typing import Iterable

from manifests import atomic, schema

CONFIG_FILE = schema.DATASET_CONFIG_JSON
FRAMES_DIR = "frames"
VIDEOS_DIR = "videos"
ROWS_DIR = "rows"
PARTIAL_DIR = ".partial"
FRAMES_CSV = "frames.csv"
CLIPS_CSV = "clips.csv"


# Config fields a rerun may change: clip i depends on (seed, i) only, so more clips extend
# the same dataset.
RESUMABLE_FIELDS = ("n_clips",)


class DatasetError(Exception):
    """A dataset directory cannot be written as asked (config mismatch, corrupt rows file...)."""


class DiskFullError(DatasetError):
    """No space (or quota) left: every further clip would fail too, so the run stops."""


def os_error(path: str, e: OSError, doing: str = "cannot write") -> DatasetError:
    """A one-line DatasetError naming the file; DiskFullError for ENOSPC/EDQUOT."""
    where = getattr(e, "filename", None) or path
    why = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DiskFullError(f"{where}: {doing}: {why} (free space, then rerun the same command to resume)")
    return DatasetError(f"{where}: {doing}: {why}")


def _unique_suffix() -> str:
    # Host and pid: shards on several machines may share one dataset directory.
    return f"{socket.gethostname()}.{os.getpid()}"


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (manifests.atomic): never half-written."""
    try:
        atomic.write_text(path, text)
    except OSError as e:
        raise os_error(path, e) from e


# --------------------------------------------------------------------------- frames

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Blender writes the render's date, render time and file name as text chunks: dropped, so the
# same render gives the same file.
PNG_METADATA_CHUNKS = (b"tEXt", b"zTXt", b"iTXt", b"tIME")
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def verified_png(path: str) -> bytes:
    """The bytes of PNG ``path`` without its metadata chunks, after checking that it decodes
    completely: signature, every chunk's length and CRC, IHDR first, IEND last, and the zlib
    image stream inflating to exactly the size IHDR says. Raises DatasetError naming the file.

    Blender's PNG writer does not report a full disk: a frame can be cut short or 0 bytes long
    while the render "succeeds". Standard library only (no image decoder in Blender's Python)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise os_error(path, e, "cannot read frame") from e

    def bad(why):
        return DatasetError(f"{path}: broken frame ({why}); the disk may be full")

    if not data:
        raise bad("0 bytes")
    if not data.startswith(PNG_SIGNATURE):
        raise bad("not a PNG file")
    pos, kept, idat, ihdr = len(PNG_SIGNATURE), [PNG_SIGNATURE], [], None
    while True:
        if pos + 12 > len(data):
            raise bad(f"cut short at byte {len(data)}, no IEND chunk")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise bad(f"{ctype!r} chunk cut short at byte {len(data)}")
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(ctype + body) != struct.unpack(">I", data[end - 4:end])[0]:
            raise bad(f"CRC mismatch in the {ctype!r} chunk at byte {pos}")
        if ihdr is None:
            if ctype != b"IHDR" or length != 13:
                raise bad("first chunk is not IHDR")
            ihdr = struct.unpack(">IIBBBBB", body)
        if ctype == b"IDAT":
            idat.append(body)
        if ctype not in PNG_METADATA_CHUNKS:
            kept.append(data[pos:end])
        pos = end
        if ctype == b"IEND":
            break
    if pos != len(data):
        raise bad(f"{len(data) - pos} bytes after IEND")
    width, height, depth, colour, _, _, interlace = ihdr
    if colour not in _PNG_CHANNELS or width == 0 or height == 0:
        raise bad(f"bad IHDR {ihdr}")
    inflate = zlib.decompressobj()
    try:
        pixels = inflate.decompress(b"".join(idat))
    except zlib.error as e:
        raise bad(f"image data does not inflate: {e}") from None
    if not inflate.eof:
        raise bad("image data cut short")
    row_bytes = (width * _PNG_CHANNELS[colour] * depth + 7) // 8
    if interlace == 0 and len(pixels) != height * (1 + row_bytes):
        raise bad(f"image data holds {len(pixels)} bytes, {height * (1 + row_bytes)} expected")
    return b"".join(kept)


def seal_frame(path: str) -> None:
    """Verify one rendered frame (``verified_png``), drop its metadata chunks, and fsync it."""
    clean = verified_png(path)
    try:
        if os.path.getsize(path) != len(clean):
            with open(path, "wb") as f:  # in the clip's temporary directory: nobody reads it yet
                f.write(clean)
        atomic.fsync_file(path)
        if os.path.getsize(path) != len(clean):
            raise DatasetError(f"{path}: frame is {os.path.getsize(path)} bytes after writing {len(clean)}")
    except OSError as e:
        raise os_error(path, e) from e


# --------------------------------------------------------------------------- config.json

def _diff_dicts(a, b, prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(name)
            else:
                out.extend(_diff_dicts(a[key], b[key], name))
        return out
    return [] if a == b else [prefix or "<root>"]


def write_dataset_config(out: str, config: dict, seed: int, versions: dict | None = None) -> dict:
    """Record the config of ``out`` or check a rerun against the recorded one.

    ``config`` is ``GeneratorConfig.to_dict()``. The first run writes
    ``config.json`` = {"config", "seed", "versions"}. A later run (resume, more clips,
    another shard) must have the same config and seed, or it would mix two data
    distributions in one dataset: it is refused with the differing fields named.
    Returns the record now on disk.
    """
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, CONFIG_FILE)
    # JSON round trip so tuples and lists compare equal to what is on disk.
    record = json.loads(json.dumps({"config": config, "seed": seed, "versions": versions or {}}))
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError) as e:
            raise DatasetError(f"{path}: unreadable dataset config ({e}); "
                               f"move it away or render into a new directory") from e
        def comparable(rec):
            cfg = dict(rec.get("config") or {})
            for k in RESUMABLE_FIELDS:
                cfg.pop(k, None)
            return {"config": cfg, "seed": rec.get("seed")}
        diff = _diff_dicts(comparable(old), comparable(record))
        if diff:
            shown = ", ".join(diff[:8]) + (" ..." if len(diff) > 8 else "")
            raise DatasetError(
                f"{path}: this dataset was rendered with another config; differing fields: {shown}. "
                f"Resuming would mix two configs in one dataset: render into a new --out directory, "
                f"or rerun with the recorded config (--config {path} reads it back).")
        return old
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def read_dataset_config(out: str) -> dict:
    path = os.path.join(out, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot read dataset config ({e})") from e


# --------------------------------------------------------------------------- resume

def rows_path(out: str, clip_id: str) -> str:
    return os.path.join(out, ROWS_DIR, f"{clip_id}.json")


def completed_clip_ids(out: str) -> set[str]:
    """Clip ids whose commit marker (rows file) exists."""
    d = os.path.join(out, ROWS_DIR)
    if not os.path.isdir(d):
        return set()
    return {n[:-5] for n in os.listdir(d) if n.endswith(".json") and not n.startswith(".")}


def clean_partial_clips(out: str, clip_ids: Iterable[str]) -> list[str]:
    """Remove the debris of interrupted renders of ``clip_ids`` (which must not be complete).

    Only the given clip ids are touched, so shards sharing one directory do not delete
    each other's work in progress. Returns the paths removed.
    """
    removed = []
    partial = os.path.join(out, PARTIAL_DIR)
    names = os.listdir(partial) if os.path.isdir(partial) else []
    wanted = set(clip_ids)
    for name in names:
        # temp names are "<clip_id>" + "." + suffix
        if name.split(".", 1)[0] in wanted:
            p = os.path.join(partial, name)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
            removed.append(p)
    for clip_id in wanted:
        for p in (os.path.join(out, FRAMES_DIR, clip_id), os.path.join(out, VIDEOS_DIR, f"{clip_id}.mp4")):
            if os.path.isdir(p):
                shutil.rmtree(p)
                removed.append(p)
            elif os.path.exists(p):
                os.remove(p)
                removed.append(p)
    return removed


# --------------------------------------------------------------------------- one writer per clip set

LOCK_DIR = ".locks"


class DatasetLocked(DatasetError):
    """Another live render writes (some of) the same clips into this dataset directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _shards_overlap(a, b) -> bool:
    """Whether shard ``a`` and ``b`` ((i, N) pairs, None = every clip) may share a clip index."""
    if a is None or b is None:
        return True
    (i, n), (j, m) = a, b
    return n != m or i == j


class DatasetLock:
    """One writer per clip: ``DATASET/.locks/<shard>.json`` names the host and pid of the run.

    A second render of overlapping clips into the same directory is refused (it would clean up
    the first one's clips in progress as "leftovers"); shards of one dataset (``--shard i/N``,
    same N) render side by side. A lock left by a dead process of this host is taken over with a
    message; a lock of another host cannot be checked and is refused, naming it.

        with DatasetLock(out, shard=(0, 4), log=print):
            ...
    """

    def __init__(self, out: str, shard=None, log=None):
        self.out, self.shard, self.log = out, (tuple(shard) if shard else None), log
        name = "all" if self.shard is None else f"shard-{self.shard[0]}-of-{self.shard[1]}"
        self.dir = os.path.join(out, LOCK_DIR)
        self.path = os.path.join(self.dir, f"{name}.json")
        self.held = False

    def _owners(self):
        """(path, record) of every lock file but ours; record None when unreadable."""
        names = sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else []
        for n in names:
            p = os.path.join(self.dir, n)
            if not n.endswith(".json") or p == self.path and self.held:
                continue
            try:
                with open(p, encoding="utf-8") as f:
                    yield p, json.load(f)
            except FileNotFoundError:
                continue  # released meanwhile
            except (OSError, ValueError):
                yield p, None

    def _check(self) -> None:
        here = socket.gethostname()
        for p, rec in self._owners():
            if rec is None:
                raise DatasetLocked(f"{p}: unreadable render lock; if no render is writing into "
                                    f"{self.out}, delete it and rerun")
            shard = tuple(rec["shard"]) if rec.get("shard") else None
            if not _shards_overlap(shard, self.shard):
                continue
            owner = f"pid {rec.get('pid')} on {rec.get('host')}"
            if rec.get("host") == here and not _pid_alive(int(rec.get("pid", 0))):
                if self.log:
                    self.log(f"generator.render: {p}: stale lock of {owner} (not running), taken over")
                try:
                    os.remove(p)
                except FileNotFoundError:
                    pass
                continue
            raise DatasetLocked(f"{p}: {self.out} is being rendered by {owner} (started "
                                f"{rec.get('started', '?')}); wait for it, or delete the lock if that "
                                f"process is gone")

    def acquire(self) -> "DatasetLock":
        try:
            os.makedirs(self.dir, exist_ok=True)
            self._check()
            record = {"host": socket.gethostname(), "pid": os.getpid(), "shard": self.shard,
                      "started": time.strftime("%Y-%m-%d %H:%M:%S")}
            tmp = f"{self.path}.{_unique_suffix()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f)
            try:
                os.link(tmp, self.path)  # atomic, and fails if the lock exists: complete when seen
            except FileExistsError:
                self._check()  # a stale lock of our own shard name: taken over, or refused
                os.link(tmp, self.path)
            finally:
                os.remove(tmp)
            self.held = True
            self._check()  # two overlapping runs that started together: both see each other
        except FileExistsError:
            raise DatasetLocked(f"{self.path}: another render took this lock at the same moment") from None
        except DatasetLocked:
            self.release()
            raise
        except OSError as e:
            raise os_error(self.path, e, "cannot take the render lock") from e
        return self

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                os.remove(self.path)
            except OSError:
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# --------------------------------------------------------------------------- video

def find_ffmpeg() -> str:
    """The ffmpeg binary: imageio-ffmpeg's if importable, else ``ffmpeg`` on PATH.

    Called at start-up when --video is asked for, so a missing ffmpeg fails before
    anything renders.
    """
    try:
        import imageio_ffmpeg  # optional: not in Blender's bundled Python
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        pass
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    raise DatasetError("--video needs ffmpeg: `pip install imageio-ffmpeg` or install ffmpeg on PATH")


def write_clip_video(frame_dir: str, video_path: str, fps: float, ffmpeg: str) -> None:
    """Encode ``frame_dir/%04d.png`` to an H.264 MP4 (yuv420p, so every player reads it)."""
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-framerate", repr(float(fps)),
           "-i", os.path.join(frame_dir, "%04d.png"),
           # yuv420p needs even sizes: pad right/bottom, which keeps pixel coordinates.
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-crf", "18", "-f", "mp4", video_path]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise DatasetError(f"{video_path}: ffmpeg failed ({r.returncode}): {r.stderr.strip()[-800:]}")


# --------------------------------------------------------------------------- one clip

class ClipWriter:
    """Writes one clip atomically: frames, optional video, then the rows file (commit marker).

    Usage::

        w = ClipWriter(out, clip_id)
        rows = scene.render_clip(spec, w.frame_dir)   # renders into a temp dir
        w.commit(rows, spec.to_row(), fps=spec.fps)   # clip becomes visible
    """

    def __init__(self, out: str, clip_id: str, ffmpeg: str | None = None, keep_frames: bool = True):
        # keep_frames=False (config output.png false): the PNGs only feed the video encoder.
        self.out, self.clip_id, self.ffmpeg, self.keep_frames = out, clip_id, ffmpeg, keep_frames or not ffmpeg
        self.tmp_root = os.path.join(out, PARTIAL_DIR)
        suffix = _unique_suffix()
        self.frame_dir = os.path.join(self.tmp_root, f"{clip_id}.{suffix}.frames")
        self._tmp_video = os.path.join(self.tmp_root, f"{clip_id}.{suffix}.mp4")
        self._tmp_rows = os.path.join(self.tmp_root, f"{clip_id}.{suffix}.rows.json")
        try:
            os.makedirs(self.tmp_root, exist_ok=True)
            if os.path.exists(self.frame_dir):
                shutil.rmtree(self.frame_dir)
            os.makedirs(self.frame_dir)
        except OSError as e:
            raise os_error(self.frame_dir, e) from e

    def commit(self, frame_rows: list[dict], clip_row: dict, fps: float) -> dict:
        """Make the clip visible. Returns the rows file's content.

        Every frame is checked to decode (``verified_png``) and fsynced, as are the video and the
        rows, before the rows file (the commit marker) is renamed into place: a full disk or an
        I/O error fails the clip with a DatasetError naming the file, and nothing is committed."""
        try:
            return self._commit(frame_rows, clip_row, fps)
        except OSError as e:
            raise os_error(self.frame_dir, e) from e

    def _commit(self, frame_rows: list[dict], clip_row: dict, fps: float) -> dict:
        clip_id = self.clip_id
        n = len(frame_rows)
        missing = [f"{t:04d}.png" for t in range(n)
                   if not os.path.isfile(os.path.join(self.frame_dir, f"{t:04d}.png"))]
        if n == 0 or missing:
            raise DatasetError(f"clip {clip_id}: renderer returned {n} rows but frames are missing "
                               f"in {self.frame_dir}: {missing[:5]}")
        for t in range(n):
            seal_frame(os.path.join(self.frame_dir, f"{t:04d}.png"))
        atomic.fsync_dir(self.frame_dir)
        # clips.csv columns that frames.csv repeats on every frame (schema.CLIP_LEVEL_COLUMNS)
        clip_level = {k: clip_row[k] for k in ("subject_id", "fps", "width", "height", "blink", "split")
                      if clip_row.get(k) is not None}
        frames = []
        for t, row in enumerate(frame_rows):
            row = {**row, **clip_level}
            row["clip_id"] = clip_id
            row.setdefault("frame", t)
            row["image"] = f"{FRAMES_DIR}/{clip_id}/{int(row['frame']):04d}.png" if self.keep_frames else None
            if self.ffmpeg:
                row["video"] = f"{VIDEOS_DIR}/{clip_id}.mp4"
                row["video_frame"] = int(row["frame"])
            frames.append(row)
        clip = dict(clip_row)
        clip["clip_id"] = clip_id

        if self.ffmpeg:
            write_clip_video(self.frame_dir, self._tmp_video, fps, self.ffmpeg)
            if os.path.getsize(self._tmp_video) == 0:
                raise DatasetError(f"{self._tmp_video}: ffmpeg wrote an empty video; the disk may be full")
            atomic.fsync_file(self._tmp_video)
        final_frames = os.path.join(self.out, FRAMES_DIR, clip_id)
        os.makedirs(os.path.dirname(final_frames), exist_ok=True)
        if os.path.exists(final_frames):  # debris of a crash between rename and commit
            shutil.rmtree(final_frames)
        if self.keep_frames:
            os.rename(self.frame_dir, final_frames)
            atomic.fsync_dir(os.path.dirname(final_frames))
        else:
            shutil.rmtree(self.frame_dir)
        if self.ffmpeg:
            os.makedirs(os.path.join(self.out, VIDEOS_DIR), exist_ok=True)
            os.replace(self._tmp_video, os.path.join(self.out, VIDEOS_DIR, f"{clip_id}.mp4"))
            atomic.fsync_dir(os.path.join(self.out, VIDEOS_DIR))

        content = {"clip": clip, "frames": frames}
        text = json.dumps(content, default=_json_default)
        try:
            with open(self._tmp_rows, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise os_error(self._tmp_rows, e) from e
        os.makedirs(os.path.join(self.out, ROWS_DIR), exist_ok=True)
        os.replace(self._tmp_rows, rows_path(self.out, clip_id))  # the commit: written LAST
        atomic.fsync_dir(os.path.join(self.out, ROWS_DIR))
        return content

    def abort(self) -> None:
        """Remove this clip's temporaries (after a Python-level render error)."""
        for p in (self.frame_dir, self._tmp_video, self._tmp_rows):
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.exists(p):
                os.remove(p)


def _json_default(o):
    # numpy scalars and arrays from the renderer, without importing numpy here.
    if hasattr(o, "item") and getattr(o, "ndim", 1) == 0:
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------- manifests

def read_clip_rows(out: str, clip_id: str) -> dict:
    path = rows_path(out, clip_id)
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
        if not isinstance(content.get("frames"), list) or not isinstance(content.get("clip"), dict):
            raise ValueError("expected {'clip': {...}, 'frames': [...]}")
        return content
    except (OSError, ValueError, AttributeError) as e:
        raise DatasetError(f"{path}: corrupt clip rows file ({e}); delete it and rerun to re-render "
                           f"clip {clip_id}") from e


def _ordered_columns(rows: list[dict], schema_columns: list[str]) -> list[str]:
    """Schema columns first (in schema order, where present), then the rest in first-seen order."""
    if not rows:  # an empty manifest still gets its header
        return list(schema_columns)
    present: dict[str, None] = {}
    for r in rows:
        for k in r:
            present.setdefault(k, None)
    cols = [c for c in schema_columns if c in present]
    cols += [c for c in present if c not in set(cols)]
    return cols


def _schema_columns() -> tuple[list[str], list[str]]:
    """Column order of frames.csv and clips.csv from manifests/schema.py (stdlib only)."""
    from manifests import schema
    return list(schema.FRAME_COLUMNS), list(schema.CLIP_COLUMNS)


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, separators=(",", ":"))
    return v


class _NewColumn(Exception):
    pass


def _stream_manifests(out: str, ids: list[str], frame_cols: list[str], clip_cols: list[str]) -> tuple[int, int]:
    """Write both CSVs clip by clip (a million clips never sit in memory at once).
    Raises _NewColumn if a clip has a column outside the given lists."""
    n_frames = 0
    with contextlib.ExitStack() as stack:
        tmps = {name: stack.enter_context(atomic.atomic_path(os.path.join(out, name)))
                for name in (FRAMES_CSV, CLIPS_CSV)}
        with open(tmps[FRAMES_CSV], "w", encoding="utf-8", newline="") as ff, \
                open(tmps[CLIPS_CSV], "w", encoding="utf-8", newline="") as cf:
            fw = csv.DictWriter(ff, fieldnames=frame_cols)
            cw = csv.DictWriter(cf, fieldnames=clip_cols)
            fw.writeheader()
            cw.writeheader()
            fset, cset = set(frame_cols), set(clip_cols)
            for clip_id in ids:
                content = read_clip_rows(out, clip_id)
                if not set(content["clip"]) <= cset:
                    raise _NewColumn()
                cw.writerow({k: _csv_value(content["clip"].get(k)) for k in clip_cols})
                for r in sorted(content["frames"], key=lambda r: int(r["frame"])):
                    if not set(r) <= fset:
                        raise _NewColumn()
                    fw.writerow({k: _csv_value(r.get(k)) for k in frame_cols})
                    n_frames += 1
    return n_frames, len(ids)


def write_manifests(out: str, clip_ids: Iterable[str] | None = None) -> tuple[int, int]:
    """Merge rows/*.json into ``frames.csv`` and ``clips.csv`` (sorted by clip_id, frame).

    ``clip_ids`` defaults to every committed clip, so shards that rendered into one
    directory are assembled by whichever finishes last (or by calling this again).
    Both files are written atomically (temp file + os.replace), streaming clip by clip.
    Columns: manifests/schema.py order first, then the first clip's extra columns; if a later
    clip brings a new column, one more pass collects every clip's columns. Returns (n_frames, n_clips).
    """
    try:
        return _write_manifests(out, clip_ids)
    except OSError as e:  # ENOSPC, EIO, read-only: one line naming the file, nothing half-written
        raise os_error(os.path.join(out, FRAMES_CSV), e) from e


def _write_manifests(out: str, clip_ids: Iterable[str] | None) -> tuple[int, int]:
    ids = sorted(completed_clip_ids(out) if clip_ids is None else clip_ids)
    frame_schema, clip_schema = _schema_columns()
    frame_schema = frame_schema or ["clip_id", "frame"]
    clip_schema = clip_schema or ["clip_id"]
    first = [read_clip_rows(out, ids[0])] if ids else []
    try:
        return _stream_manifests(out, ids, _ordered_columns([r for c in first for r in c["frames"]], frame_schema),
                                 _ordered_columns([c["clip"] for c in first], clip_schema))
    except _NewColumn:
        fcols, ccols = {}, {}
        for clip_id in ids:
            content = read_clip_rows(out, clip_id)
            ccols.update(dict.fromkeys(content["clip"]))
            for r in content["frames"]:
                fcols.update(dict.fromkeys(r))
        return _stream_manifests(out, ids, _ordered_columns([fcols], frame_schema),
                                 _ordered_columns([ccols], clip_schema))
