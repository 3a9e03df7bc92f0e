"""Video in and out, and eye landmarks from faces, for running a trained model on real video.

- `probe_video` / `iter_video_frames`: OpenCV's FFmpeg reader (RGB frames); an unreadable file
  raises VideoReadError naming it.
- `VideoWriter`: imageio-ffmpeg H.264 writer, written to a temporary file and renamed when
  closed, so an interrupted run never leaves half a video under the final name.
- `FaceEyeDetector`: OpenCV's Haar cascades (they ship inside opencv-python, nothing is
  downloaded): the largest frontal face, then eyes inside its upper part. Eye corners are
  estimated from each eye box, or from the face box by typical frontal-face proportions when an
  eye is not found.
- `track_landmarks`: per-frame corners -> stable corners: missed frames hold the last detection
  (the first detection is held backwards), then a centred moving average removes jitter.

Landmark dicts use the manifest convention: the subject's own left/right eye (the subject's right
eye appears on the image's left), pixels with x right and y down.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pandas as pd

from manifests.schema import EYES

CORNER_COLUMNS = [f"{e}_{p}_{a}" for e in EYES for p in ("outer", "inner") for a in "xy"]

# Frontal-face proportions inside a Haar face box (fractions of its width / height): eye centres
# at 30% and 70% of the width and 38% of the height, corner-to-corner about 21% of the width.
FACE_EYE_X = (0.30, 0.70)
FACE_EYE_Y = 0.38
FACE_EYE_WIDTH = 0.21
# Inside a Haar eye box the eye's corners sit near 15% / 85% of its width, 55% of its height.
EYEBOX_CORNER_X = (0.15, 0.85)
EYEBOX_CORNER_Y = 0.55


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


def iter_video_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """RGB uint8 frames [H, W, 3] in order."""
    probe_video(path)
    cap = cv2.VideoCapture(os.fspath(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


class VideoWriter:
    """H.264 MP4 via imageio-ffmpeg; frames are RGB uint8 of one size (odd sizes are cropped to even)."""

    def __init__(self, path: str | os.PathLike, fps: float):
        import imageio.v2 as imageio

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".mp4", dir=self.path.parent)
        os.close(fd)
        # macro_block_size=1: no silent resize; we crop to even sizes ourselves (yuv420p needs them)
        self._writer = imageio.get_writer(self._tmp, fps=fps, codec="libx264", quality=7,
                                          macro_block_size=1, pixelformat="yuv420p")

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        self._writer.append_data(np.ascontiguousarray(rgb[: h - h % 2, : w - w % 2]))

    def close(self, keep: bool = True) -> None:
        self._writer.close()
        if keep:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(self._tmp, 0o666 & ~mask)  # mkstemp made it 0600
            os.replace(self._tmp, self.path)
        else:
            Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self.close(keep=exc_type is None)


def corners_from_face_box(face) -> dict[str, tuple[float, float, float, float]]:
    """Eye corners {eye: (outer_x, outer_y, inner_x, inner_y)} guessed from a face box (x, y, w, h)."""
    x, y, w, h = (float(v) for v in face)
    half = FACE_EYE_WIDTH * w / 2
    cy = y + FACE_EYE_Y * h
    right_cx, left_cx = x + FACE_EYE_X[0] * w, x + FACE_EYE_X[1] * w  # subject's right = image left
    return {"right": (right_cx - half, cy, right_cx + half, cy),
            "left": (left_cx + half, cy, left_cx - half, cy)}


def corners_from_eye_box(box, eye: str) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in box)
    a, b = x + EYEBOX_CORNER_X[0] * w, x + EYEBOX_CORNER_X[1] * w
    cy = y + EYEBOX_CORNER_Y * h
    # the outer (lateral) corner is on the image's left for the subject's right eye
    return (a, cy, b, cy) if eye == "right" else (b, cy, a, cy)


class FaceEyeDetector:
    def __init__(self, detect_width: int = 480, min_face_frac: float = 0.12):
        base = cv2.data.haarcascades
        self.face = cv2.CascadeClassifier(os.path.join(base, "haarcascade_frontalface_default.xml"))
        self.eye = cv2.CascadeClassifier(os.path.join(base, "haarcascade_eye.xml"))
        if self.face.empty() or self.eye.empty():
            raise RuntimeError(f"OpenCV Haar cascades missing under {base}")
        self.detect_width = detect_width  # detection runs on a downscaled copy: faster, same boxes
        self.min_face_frac = min_face_frac

    def detect_face(self, gray: np.ndarray, previous=None):
        """The face box (x, y, w, h) or None. With `previous` (last frame's face), the candidate
        overlapping it most is kept (tracking); otherwise the best-supported one."""
        scale = min(1.0, self.detect_width / gray.shape[1])
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        min_side = max(24, int(self.min_face_frac * min(small.shape)))
        faces, votes = self.face.detectMultiScale2(small, scaleFactor=1.1, minNeighbors=5,
                                                   minSize=(min_side, min_side))
        if len(faces) == 0:
            return None
        # the best-supported face (most merged neighbour detections), not the largest: a large
        # false positive in the background is common, a well-supported one is rare
        boxes = [tuple(float(v) / scale for v in f) for f in faces]
        if previous is not None:
            overlaps = [box_iou(b, previous) for b in boxes]
            if max(overlaps) > 0.3:
                return boxes[int(np.argmax(overlaps))]
        return boxes[int(np.argmax(np.ravel(votes)))]

    def detect_eyes(self, gray: np.ndarray, face) -> dict[str, tuple[float, float, float, float]]:
        """Eye boxes inside the upper 60% of the face, assigned by side of the face centre."""
        x, y, w, h = (int(round(v)) for v in face)
        x0, y0 = max(x, 0), max(y, 0)
        roi = gray[y0: y0 + int(0.6 * h), x0: x0 + w]
        if roi.size == 0:
            return {}
        min_eye = max(8, int(0.12 * w))
        eyes = self.eye.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=4, minSize=(min_eye, min_eye),
                                         maxSize=(int(0.45 * w), int(0.45 * w)))
        prior = corners_from_face_box(face)
        found: dict[str, tuple] = {}
        best_d: dict[str, float] = {}
        for ex, ey, ew, eh in eyes:
            box = (ex + x0, ey + y0, ew, eh)
            cx, cy = box[0] + ew / 2, box[1] + eh / 2
            eye = "right" if cx < x + w / 2 else "left"
            px = (prior[eye][0] + prior[eye][2]) / 2
            d = abs(cx - px) + abs(cy - prior[eye][1])
            if d < best_d.get(eye, np.inf):
                found[eye], best_d[eye] = box, d
        return found

    def landmarks(self, rgb: np.ndarray, face=None, previous_face=None) -> dict | None:
        """{eye: (outer_x, outer_y, inner_x, inner_y)}, "face": box, "eyes_found": [...]; None: no face.
        `face` fixes the face box; `previous_face` makes detection prefer the face it overlaps."""
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        if face is None:
            face = self.detect_face(gray, previous_face)
            if face is None:
                return None
        corners = corners_from_face_box(face)
        eye_boxes = self.detect_eyes(gray, face)
        for eye, box in eye_boxes.items():
            corners[eye] = corners_from_eye_box(box, eye)
        return {**corners, "face": face, "eyes_found": sorted(eye_boxes)}


def box_iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def track_landmarks(per_frame: list[dict | None], smooth: int = 5) -> pd.DataFrame:
    """Per-frame detections -> DataFrame of CORNER_COLUMNS (+ `detected`) for every frame.

    Missed frames hold the last detection (frames before the first one take the first); then a
    centred moving average over `smooth` frames (1 = off) removes detector jitter, which would
    otherwise move the crop and look like lid motion to the model."""
    rows = []
    for d in per_frame:
        row = {c: np.nan for c in CORNER_COLUMNS}
        if d is not None:
            for eye in EYES:
                ox, oy, ix, iy = d[eye]
                row.update({f"{eye}_outer_x": ox, f"{eye}_outer_y": oy, f"{eye}_inner_x": ix, f"{eye}_inner_y": iy})
        row["detected"] = int(d is not None)
        rows.append(row)
    df = pd.DataFrame(rows, columns=CORNER_COLUMNS + ["detected"])
    if not df["detected"].any():
        raise ValueError("no face detected in any frame")
    df[CORNER_COLUMNS] = df[CORNER_COLUMNS].ffill().bfill()
    if smooth > 1:
        df[CORNER_COLUMNS] = df[CORNER_COLUMNS].rolling(smooth, center=True, min_periods=1).mean()
    return df
