"""Face landmarks from MediaPipe FaceMesh, tracked through a video: the eyes for crops and EAR.

`FaceTracker.process(rgb)` -> the landmarks this project uses (LANDMARK_IDS) of ONE face, in
pixels, or None. How the face is found and followed:
- FaceMesh (refine_landmarks=True: iris and finer lid contours) in video mode tracks the face
  from the previous frame's landmarks; it re-detects with its own short-range detector only
  when tracking is lost;
- when the mesh finds nothing, or jumps to another place (another face in a crowd), the
  FULL-RANGE face detector (model_selection=1: small and distant faces, which the short-range
  one misses) looks at the whole frame; the face nearest the followed one (the largest at the
  start) is cut out with a margin and the mesh runs on that cut (static mode), so small faces
  get enough pixels and the followed person stays the same;
- several faces: one is followed (the first the mesh locks on, kept by the jump check); the
  most faces the detector saw in one frame is reported, so a caller can say so.

mediapipe 0.10.21 is the last release whose wheel bundles these models (no network needed).
Coordinates follow the manifest convention (pixels, x right, y down, subject's left/right):
MediaPipe's normalised x, y times the image size is exactly that.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass

import numpy as np

# FaceMesh indices. The subject's RIGHT eye is on the image's left (mesh points 33..133).
# Eye aspect ratio points (Soukupova & Cech 2016 order p1..p6: outer corner, two upper lid
# points, inner corner, two lower lid points), as in the dev set's README.
EAR_IDS = {"right": (33, 160, 158, 133, 153, 144), "left": (263, 387, 385, 362, 380, 373)}
CORNER_IDS = {"right": (33, 133), "left": (263, 362)}      # (outer = lateral, inner = nasal)
MID_LID_IDS = {"right": (159, 145), "left": (386, 374)}    # (upper, lower)
LANDMARK_IDS = tuple(sorted({i for d in (EAR_IDS, CORNER_IDS, MID_LID_IDS) for v in d.values() for i in v}))
_COLUMN = {idx: k for k, idx in enumerate(LANDMARK_IDS)}

# A followed face moving more than this many outer-corner distances between two frames is a
# different face (a real head moves far less in 1/25 s).
MAX_JUMP_EYE_SPANS = 1.0
# Cut around a detector box for the mesh: side = this x the box's larger side (FaceMesh wants
# the whole face with margin, as its own detector-to-ROI step does).
DETECTION_CUT_SCALE = 2.0
SOURCE_NONE, SOURCE_MESH, SOURCE_DETECTOR = 0, 1, 2


def column(idx: int) -> int:
    """Column of FaceMesh landmark `idx` in the arrays this module returns."""
    return _COLUMN[idx]


@dataclass(frozen=True)
class FaceFrame:
    """One frame's landmarks of the followed face: points [len(LANDMARK_IDS), 2] pixels."""
    points: np.ndarray
    source: int  # SOURCE_MESH (video-mode tracking) or SOURCE_DETECTOR (re-found by full-range detector)


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ INFO/WARNING lines on stderr
    # Loading mediapipe's bindings under protobuf >= 5 prints "AttributeError: 'MessageFactory'
    # object has no attribute 'GetPrototype'" (a probe it makes and survives); keep users from
    # reading it as a crash, pass anything else through.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            from mediapipe.python.solutions import face_detection, face_mesh
    except ImportError as e:  # pragma: no cover - set-up problem, named
        raise ImportError("trainer.landmarks needs mediapipe==0.10.21 (see README set-up: "
                          "pip install --no-deps mediapipe==0.10.21)") from e
    finally:
        rest = "".join(line for line in captured.getvalue().splitlines(True) if "GetPrototype" not in line)
        if rest.strip():
            sys.stderr.write(rest)
    return face_mesh, face_detection


class FaceTracker:
    """Follows one face through consecutive frames (call `process` in frame order)."""

    def __init__(self, min_confidence: float = 0.5):
        face_mesh, face_detection = _import_mediapipe()
        self._mesh = face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                        min_detection_confidence=min_confidence,
                                        min_tracking_confidence=min_confidence)
        self._cut_mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                            min_detection_confidence=min_confidence)
        self._detector = face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_confidence)
        self._last: np.ndarray | None = None  # last points of the followed face
        self.max_faces_seen = 0               # most faces the full-range detector saw in one frame
        self._counted = False

    def close(self) -> None:
        for m in (self._mesh, self._cut_mesh, self._detector):
            m.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    @staticmethod
    def _points(landmarks, w: float, h: float, x0: float = 0.0, y0: float = 0.0) -> np.ndarray:
        lm = landmarks.landmark
        return np.array([[x0 + lm[i].x * w, y0 + lm[i].y * h] for i in LANDMARK_IDS], np.float32)

    def _eye_span(self, pts: np.ndarray) -> float:
        return float(np.hypot(*(pts[column(33)] - pts[column(263)])))

    def _is_jump(self, pts: np.ndarray) -> bool:
        if self._last is None:
            return False
        span = max(self._eye_span(self._last), 1.0)
        return float(np.hypot(*(pts.mean(0) - self._last.mean(0)))) > MAX_JUMP_EYE_SPANS * span

    def _refind(self, rgb: np.ndarray) -> np.ndarray | None:
        """Full-range detection, the face to follow, the mesh on a cut around it."""
        h, w = rgb.shape[:2]
        found = self._detector.process(rgb).detections or []
        self.max_faces_seen = max(self.max_faces_seen, len(found))
        if not found:
            return None
        boxes = []
        for d in found:
            b = d.location_data.relative_bounding_box
            boxes.append((b.xmin * w, b.ymin * h, b.width * w, b.height * h))
        boxes = np.array(boxes)
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        if self._last is not None:  # the face nearest the one followed so far
            k = int(np.argmin(np.hypot(*(centres - self._last.mean(0)).T)))
        else:                       # the largest face
            k = int(np.argmax(boxes[:, 2] * boxes[:, 3]))
        side = DETECTION_CUT_SCALE * boxes[k, 2:].max()
        x0, y0 = int(round(centres[k, 0] - side / 2)), int(round(centres[k, 1] - side / 2))
        x1, y1 = int(round(x0 + side)), int(round(y0 + side))
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 - cx0 < 8 or cy1 - cy0 < 8:
            return None
        cut = np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1])
        res = self._cut_mesh.process(cut)
        if not res.multi_face_landmarks:
            return None
        return self._points(res.multi_face_landmarks[0], cx1 - cx0, cy1 - cy0, cx0, cy0)

    def process(self, rgb: np.ndarray) -> FaceFrame | None:
        """Landmarks of the followed face in this RGB uint8 frame, or None (no face)."""
        rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        if not self._counted:  # the first frame: how many faces are there to choose from
            self._counted = True
            self.max_faces_seen = max(self.max_faces_seen, len(self._detector.process(rgb).detections or []))
        res = self._mesh.process(rgb)
        pts = self._points(res.multi_face_landmarks[0], w, h) if res.multi_face_landmarks else None
        source = SOURCE_MESH
        if pts is None or self._is_jump(pts):
            pts, source = self._refind(rgb), SOURCE_DETECTOR
            if pts is not None and self._is_jump(pts):
                pts = None  # only another face is visible: the followed one is gone (a gap)
        if pts is None:
            return None
        self._last = pts
        return FaceFrame(points=pts, source=source)


def eye_aspect_ratio(points: np.ndarray, eye: str) -> np.ndarray:
    """EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|) per frame from points [N, K, 2] (NaN stays NaN)."""
    p = [points[:, column(i)] for i in EAR_IDS[eye]]
    dist = lambda a, b: np.hypot(*(a - b).T)  # noqa: E731
    width = dist(p[0], p[3])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (dist(p[1], p[5]) + dist(p[2], p[4])) / (2 * np.where(width > 0, width, np.nan))
