"""Small real-face videos for the video tests: skimage's astronaut photo on a 640x480 canvas.

The face moves a little from frame to frame (as a person does); `closed` frames have both eyes
painted shut (the eye openings filled with the lid skin just above them), which FaceMesh reads
as closed lids, so a blink happens exactly where the test puts it.
"""
from __future__ import annotations

import functools

import cv2
import imageio.v2 as imageio
import numpy as np

# FaceMesh eye-opening contours (subject's right eye, then left)
EYE_CONTOURS = ([33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246],
                [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466])
CANVAS = (480, 640)


@functools.lru_cache(maxsize=1)
def astronaut_open_closed() -> tuple[np.ndarray, np.ndarray]:
    from mediapipe.python.solutions import face_mesh
    from skimage import data

    img = data.astronaut()
    h, w = img.shape[:2]
    with face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as fm:
        lm = fm.process(img).multi_face_landmarks[0].landmark
    pts = np.array([[p.x * w, p.y * h] for p in lm])
    closed = img.copy()
    for ids in EYE_CONTOURS:
        poly = pts[ids]
        x0, x1 = int(poly[:, 0].min()) - 3, int(poly[:, 0].max()) + 3
        y0, y1 = int(poly[:, 1].min()) - 4, int(poly[:, 1].max()) + 4
        lid = cv2.resize(img[y0 - (y1 - y0): y0, x0:x1], (x1 - x0, y1 - y0))
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly.astype(np.int32)], 255)
        mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((7, 7), np.uint8)), (5, 5), 0)[..., None] / 255.0
        painted = closed.copy()
        painted[y0:y1, x0:x1] = lid
        closed = (painted * mask + closed * (1 - mask)).astype(np.uint8)
    return img, closed


def place(face: np.ndarray, dx: int, dy: int, size: int = 400, canvas: np.ndarray | None = None,
          x0: int = 120, y0: int = 40) -> np.ndarray:
    out = np.full((*CANVAS, 3), 90, np.uint8) if canvas is None else canvas
    small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    out[y0 + dy: y0 + dy + size, x0 + dx: x0 + dx + size] = small
    return out


def face_frames(n: int, closed=(), absent=()) -> list[np.ndarray]:
    """n frames of the astronaut, gently moving; eyes shut on `closed` frames, no face on `absent`."""
    open_, shut = astronaut_open_closed()
    frames = []
    for t in range(n):
        if t in absent:
            frames.append(np.full((*CANVAS, 3), 90, np.uint8))
            continue
        dx, dy = int(round(3 * np.sin(t / 5))), int(round(2 * np.cos(t / 7)))
        frames.append(place(shut if t in closed else open_, dx, dy))
    return frames


def two_face_frames(n: int) -> list[np.ndarray]:
    open_, _ = astronaut_open_closed()
    frames = []
    for t in range(n):
        dx = int(round(2 * np.sin(t / 4)))
        canvas = place(open_, dx, 0, size=300, x0=10, y0=90)
        frames.append(place(open_[:, ::-1].copy(), -dx, 0, size=300, canvas=canvas, x0=330, y0=90))
    return frames


def write_video(path, frames, fps: float = 25.0) -> None:
    writer = imageio.get_writer(str(path), fps=fps, codec="libx264", quality=9, macro_block_size=1)
    for f in frames:
        writer.append_data(f)
    writer.close()
