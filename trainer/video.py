"""Video in and out for running a trained model on real video (landmarks: trainer/landmarks.py).

- `probe_video` / `iter_video_frames`: OpenCV's FFmpeg reader (RGB frames, with each frame's
  presentation time, so variable-frame-rate video gets true times); an unreadable file raises
  VideoReadError naming it. Frame k is the k-th frame `cv2.VideoCapture.read()` returns, the
  convention of the real-video labels.
- `VideoWriter`: imageio-ffmpeg H.264 writer, written to a temporary file and renamed when
  closed, so an interrupted run never leaves half a video under the final name.

Eyes are the subject's own left/right (the subject's right eye appears on the image's left).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from manifests.atomic import atomic_path
from manifests.schema import EYES

CORNER_COLUMNS = [f"{e}_{p}_{a}" for e in EYES for p in ("outer", "inner") for a in "xy"]


class VideoReadError(OSError):
    """A video that cannot be opened or decoded."""


def probe_video(path: str | os.PathLike) -> dict:
    """fps, frame count (as the container says), width and height; VideoReadError if unreadable."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoReadError(f"{path}: video file not found")
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise VideoReadError(f"{path}: cannot open video (not a video file, or a codec FFmpeg lacks)")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoReadError(f"{path}: video has no decodable frames")
        fps = cap.get(cv2.CAP_PROP_FPS)
        return dict(fps=float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0,
                    frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), width=frame.shape[1], height=frame.shape[0])
    finally:
        cap.release()


def iter_video_frames(path: str | os.PathLike, with_times: bool = False) -> Iterator:
    """RGB uint8 frames [H, W, 3] in decode order; with_times: (frame, time in s) pairs, the time
    from the container's timestamps (NaN where it gives none)."""
    probe_video(path)
    cap = cv2.VideoCapture(os.fspath(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if with_times:
                ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                yield rgb, (ms / 1000.0 if ms is not None and np.isfinite(ms) and ms >= 0 else float("nan"))
            else:
                yield rgb
    finally:
        cap.release()


def frame_times(times_s, fps: float) -> np.ndarray:
    """Per-frame times in s: the container's when they increase strictly, else frame / fps."""
    t = np.asarray(times_s, float)
    if len(t) and np.isfinite(t).all() and (len(t) == 1 or (np.diff(t) > 0).all()):
        return t - t[0]
    return np.arange(len(t)) / fps


class _Discarded(Exception):
    """Tells the atomic write of a video that is not kept to delete its temporary file."""


class VideoWriter:
    """H.264 MP4 via imageio-ffmpeg; frames are RGB uint8 of one size (odd sizes are cropped to even)."""

    def __init__(self, path: str | os.PathLike, fps: float):
        import imageio.v2 as imageio

        self.path = Path(path)
        # the file appears at `path` only when close(keep=True) publishes it (manifests.atomic)
        self._publish = contextlib.ExitStack()
        self._tmp = self._publish.enter_context(atomic_path(self.path, suffix=".mp4"))
        # macro_block_size=1: no silent resize; we crop to even sizes ourselves (yuv420p needs them)
        self._writer = imageio.get_writer(self._tmp, fps=fps, codec="libx264", quality=7,
                                          macro_block_size=1, pixelformat="yuv420p")

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        self._writer.append_data(np.ascontiguousarray(rgb[: h - h % 2, : w - w % 2]))

    def close(self, keep: bool = True) -> None:
        with contextlib.suppress(_Discarded), self._publish:
            self._writer.close()
            if not keep:
                raise _Discarded()  # the atomic write deletes its temporary file

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self.close(keep=exc_type is None)
