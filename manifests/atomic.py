"""Atomic file writes, the one implementation every writer in the project uses.

A file written through here appears whole or not at all: the bytes go to a temporary file
beside the target, are flushed and fsynced, get the mode a plain ``open()`` would have given
(0666 minus the umask: ``mkstemp`` creates 0600, which would hide shared datasets from other
users), and are renamed onto the target; the directory is then fsynced so the rename itself
survives a power cut. Any error (ENOSPC included) removes the temporary file and propagates.

Standard library only: the render process (Blender's bundled Python) imports it.

    with atomic_path(path) as tmp:      # any writer that wants a file name (cv2, matplotlib, torch)
        writer(tmp)
    write_text(path, text)              # or bytes:
    write_bytes(path, data)
    with atomic_dir(path) as tmp:       # a whole directory (a converted dataset, a crop cache)
        fill(tmp)
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def default_file_mode(directory: bool = False) -> int:
    """The mode ``open(path, "w")`` (or ``os.mkdir``) gives a new file (directory): 0666 (0777)
    minus the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def fsync_file(path: PathLike) -> None:
    """Flush a finished file's data to the disk (raises OSError, e.g. EIO/ENOSPC, if it cannot)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: PathLike) -> None:
    """Make renames and creations inside directory ``path`` durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows: directories cannot be opened; rename durability is the OS's business
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (network mounts) refuse fsync on a directory
    finally:
        os.close(fd)


def publish(tmp: PathLike, path: PathLike) -> None:
    """fsync the finished temporary file, give it the umask's mode, rename it onto ``path`` and
    fsync the directory."""
    fsync_file(tmp)
    os.chmod(tmp, default_file_mode())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


@contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary file name beside ``path``; on success publish it onto ``path``, on any
    error delete it. ``suffix`` matters to writers that pick the format from the name (".png")."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=parent)
    os.close(fd)
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path: PathLike, text: str, newline: str = "") -> None:
    """Write ``text`` as UTF-8; ``newline=""`` writes line ends exactly as given."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as f:
        f.write(text)


@contextmanager
def atomic_dir(path: PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a new temporary directory beside ``path``; on success it gets the umask's mode and is
    renamed to ``path`` in one step (``path`` must not exist, or be an empty directory, which it
    replaces), on any error it is deleted. Flushing the files inside is the caller's business."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=parent)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode(directory=True))  # mkdtemp made it 0700
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
        os.rename(tmp, path)
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
